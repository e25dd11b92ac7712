"""Staff API rights: an active staff user holding the model permission of the method (view for reads)."""

from rest_framework.permissions import DjangoModelPermissions


class StaffModelPermissions(DjangoModelPermissions):
    """GET/HEAD/OPTIONS need `view_<model>`, POST `add_`, PUT/PATCH `change_`, DELETE `delete_`; staff only."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_active and user.is_staff and super().has_permission(request, view))
