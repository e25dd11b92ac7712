"""The product admin's merge action: choose the survivor, see the plan (what moves, what stays, which ERP records
to archive), confirm. Needs catalog.merge_product."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .duplicates import find_duplicate_products
from .errors import MergeRefused
from .merge import merge_products, plan_product_merge

MERGE_PERMISSION = "catalog.merge_product"


class ProductMergeForm(forms.Form):
    survivor = forms.TypedChoiceField(label=_("Keep (survivor)"), coerce=int, widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.TextInput(attrs={"size": 80}))

    def __init__(self, *args, products, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survivor"].choices = [
            (p.pk, f"{p.article} — {p.name}{' (ERP id ' + p.erp_id + ')' if p.erp_id else ''} (#{p.pk})")
            for p in products
        ]


class ProductMergeAdminMixin:
    """ModelAdmin mixin adding the "merge selected products" action (list it in `actions`)."""

    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm(MERGE_PERMISSION)

    @admin.action(description=_("Merge selected products…"), permissions=["merge"])
    def merge_selected(self, request, queryset):
        if not self.has_merge_permission(request):
            raise PermissionDenied
        products = list(queryset.select_related("unit").order_by("pk"))
        if len(products) < 2:
            self.message_user(request, _("Select at least two products to merge."), messages.WARNING)
            return None
        selected = {p.pk for p in products}
        unrelated = not any(selected <= set(g.product_ids) for g in find_duplicate_products())
        default = next((p.pk for p in products if p.erp_id), products[0].pk)
        form = ProductMergeForm(request.POST if "survivor" in request.POST else None, products=products,
                                initial={"survivor": default})
        survivor_id = int(request.POST.get("survivor") or default)
        survivor = next((p for p in products if p.pk == survivor_id), products[0])
        duplicates = [p for p in products if p.pk != survivor.pk]
        plan, refused = None, None
        try:
            plan = plan_product_merge(survivor, duplicates)
        except MergeRefused as exc:
            refused = exc.message
        if plan is not None and request.POST.get("confirm") == "yes" and form.is_valid():
            try:
                result = merge_products(survivor, duplicates, user=request.user, reason=form.cleaned_data["reason"])
            except MergeRefused as exc:
                refused = exc.message
            else:
                self.message_user(request, ngettext(
                    "%(count)d product merged into “%(name)s”.", "%(count)d products merged into “%(name)s”.",
                    len(result.merged_ids)) % {"count": len(result.merged_ids), "name": survivor}, messages.SUCCESS)
                if result.plan.erp_records_to_archive:
                    self.message_user(request, _("The ERP was not changed: archive these records there so that the "
                                                 "next sync does not bring them back: %(items)s")
                                      % {"items": "; ".join(result.plan.erp_records_to_archive)}, messages.WARNING)
                if result.deactivated or result.dropped:
                    self.message_user(request, _("The survivor already had its own, so these were deactivated or "
                                                 "dropped: %(items)s")
                                      % {"items": "; ".join([*result.deactivated, *result.dropped])}, messages.WARNING)
                return None
        context = {
            **self.admin_site.each_context(request), "title": _("Merge products"), "opts": self.model._meta,
            "products": products, "survivor": survivor, "duplicates": duplicates, "plan": plan, "refused": refused,
            "unrelated": unrelated, "form": form, "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "selected": [p.pk for p in products],
        }
        return TemplateResponse(request, "admin/catalog/product_merge_confirmation.html", context)
