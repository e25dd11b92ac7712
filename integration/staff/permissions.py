"""Who may do what in the staff layer; the credentials of a backend are for integration admins only."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

VIEW_CREDENTIALS = "staff.view_credentials"
PAUSE_BACKEND = "staff.pause_backend"
RUN_DRY_RUN = "staff.run_dry_run"
REPAIR_DRIFT = "staff.repair_drift"
VIEW_RECONCILIATION = "staff.view_reconcilerun"


def can_see_credentials(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(VIEW_CREDENTIALS))


def can_pause_backends(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(PAUSE_BACKEND))


def can_run_dry_run(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(RUN_DRY_RUN))


def can_view_reconciliation(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(VIEW_RECONCILIATION))


def can_repair_drift(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Running the reconciliation with repair rewrites records on every side: integration admins only."""
    return bool(user.is_active and user.is_staff and user.has_perm(REPAIR_DRIFT))


def _is_secret(name: str) -> bool:
    return "credential" in name


def _strip(names) -> list:
    return [name for name in names if not (isinstance(name, str) and _is_secret(name))]


class CredentialsHiddenMixin:
    """ModelAdmin mixin: fields whose name contains "credential" exist only for users who may see them.

    Hidden from the change form (so they can't be changed either), the change list, filters and search.
    """

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if can_see_credentials(request.user):
            return fieldsets
        stripped = [(title, {**options, "fields": _strip_nested(options["fields"])}) for title, options in fieldsets]
        return [(title, options) for title, options in stripped if options["fields"]]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not can_see_credentials(request.user):
            # Declared form fields (a write-only "change credentials" box) survive `exclude`: drop them from
            # the class just built for this request.
            for name in [name for name in form.base_fields if _is_secret(name)]:
                del form.base_fields[name]
        return form

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if can_see_credentials(request.user) else _strip(fields)

    def get_exclude(self, request, obj=None):
        exclude = super().get_exclude(request, obj)
        if can_see_credentials(request.user):
            return exclude
        return [*(exclude or ()), "credentials"]

    def get_list_display(self, request):
        fields = super().get_list_display(request)
        return fields if can_see_credentials(request.user) else _strip(fields)

    def get_list_filter(self, request):
        fields = super().get_list_filter(request)
        return fields if can_see_credentials(request.user) else _strip(fields)

    def get_search_fields(self, request):
        fields = super().get_search_fields(request)
        return fields if can_see_credentials(request.user) else _strip(fields)


def _strip_nested(fields) -> list:
    """Fieldset "fields" may group several names on one line as a tuple."""
    out = []
    for item in fields:
        if isinstance(item, list | tuple):
            kept = _strip(item)
            if kept:
                out.append(tuple(kept))
        elif not _is_secret(item):
            out.append(item)
    return out
