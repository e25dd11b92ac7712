from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from integration.staff.mirrored import MirroredAdminMixin, MirroredInlineMixin

from .errors import InvalidValue, MergeRefused
from .matching import find_duplicate_groups
from .merge import merge_counterparties, plan_merge
from .models import Counterparty, Email, Phone
from .validators import normalize_phone


class ContactFormSet(forms.BaseInlineFormSet):
    """Counts the contacts kept; the e-mail formset (validated after the phones) checks an individual has one."""

    def kept(self) -> int:
        return sum(
            1 for form in self.forms
            if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE")
            and any(form.cleaned_data.get(f) for f in ("number", "address"))
        )


class PhoneFormSet(ContactFormSet):
    def clean(self):
        super().clean()
        self.instance._admin_phone_count = self.kept()


class EmailFormSet(ContactFormSet):
    def clean(self):
        super().clean()
        phones = getattr(self.instance, "_admin_phone_count", None)
        if self.instance.kind == Counterparty.Kind.INDIVIDUAL and phones == 0 and self.kept() == 0:
            raise forms.ValidationError(_("An individual needs a phone or an e-mail."), code="required")


class PhoneInline(MirroredInlineMixin, admin.TabularInline):
    model = Phone
    formset = PhoneFormSet
    extra = 0
    fields = ("number", "raw", "is_primary")
    readonly_fields = ("raw",)


class EmailInline(MirroredInlineMixin, admin.TabularInline):
    model = Email
    formset = EmailFormSet
    extra = 0
    fields = ("address", "is_primary")


class MergedFilter(admin.SimpleListFilter):
    title = _("merged")
    parameter_name = "merged"

    def lookups(self, request, model_admin):
        return (("no", _("live")), ("yes", _("merged into another")))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(merged_into__isnull=True)
        if self.value() == "yes":
            return queryset.filter(merged_into__isnull=False)
        return queryset


class DuplicateFilter(admin.SimpleListFilter):
    title = _("duplicates")
    parameter_name = "duplicates"

    def lookups(self, request, model_admin):
        return (("duplicate", _("suspected duplicates")), ("branches", _("branches (same INN, other KPP)")))

    def queryset(self, request, queryset):
        if self.value() in ("duplicate", "branches"):
            ids = {pk for g in find_duplicate_groups() if g.kind == self.value() for pk in g.counterparty_ids}
            return queryset.filter(pk__in=ids)
        return queryset


class MergeForm(forms.Form):
    survivor = forms.TypedChoiceField(label=_("Keep (survivor)"), coerce=int, widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.TextInput(attrs={"size": 80}))

    def __init__(self, *args, counterparties, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survivor"].choices = [
            (c.pk, f"{c.name} — {c.get_kind_display()}{', ' + _('INN') + ' ' + c.inn if c.inn else ''} (#{c.pk})")
            for c in counterparties
        ]


@admin.register(Counterparty)
class CounterpartyAdmin(MirroredAdminMixin, SimpleHistoryAdmin):
    # Bound to the ERP (it has an ERP id): the ERP's card is the master of the requisites, addresses and contacts.
    synced_fields = ("kind", "name", "full_name", "inn", "kpp", "ogrn", "legal_address", "actual_address", "erp_id",
                     "crm_id")
    pinnable_fields = ("name", "full_name", "legal_address", "actual_address", "segment")
    master_blocks_add = False  # new clients are made here or in amoCRM and sent to the ERP
    local_fields_note = _("Local and editable here: the client segment (the price list the client buys at). The "
                          "ERP's price type replaces it when the ERP sends one; pin it to keep a different one.")
    list_display = ("name", "kind", "inn", "kpp", "primary_phone", "segment", "merged_into")
    list_select_related = ("segment", "merged_into")
    list_filter = ("kind", "segment", MergedFilter, DuplicateFilter)
    search_fields = ("name", "full_name", "=inn", "=kpp", "=ogrn", "=phones__number", "phones__raw",
                     "emails__address", "=erp_id", "=crm_id")
    autocomplete_fields = ("merged_into",)
    readonly_fields = ("created_at", "updated_at", "merged_into")
    inlines = (PhoneInline, EmailInline)
    actions = ("merge_selected",)
    fieldsets = (
        (None, {"fields": ("kind", "name", "full_name", "segment")}),
        (_("Requisites"), {"fields": ("inn", "kpp", "ogrn")}),
        (_("Addresses"), {"fields": ("legal_address", "actual_address")}),
        (_("External ids"), {"fields": ("erp_id", "crm_id", "merged_into", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("phones")

    def get_search_results(self, request, queryset, search_term):
        """A phone typed in any spelling ("8 (916) 123-45-67") finds the E.164 number."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            number = normalize_phone(search_term, russia_only=False)
        except InvalidValue:  # not a phone: the plain search stands
            return found, may_have_duplicates
        by_phone = queryset.filter(pk__in=Phone.objects.filter(number=number).values("counterparty_id"))
        return found | by_phone, may_have_duplicates

    @admin.display(description=_("phone"))
    def primary_phone(self, obj: Counterparty) -> str:
        phones = sorted(obj.phones.all(), key=lambda p: (not p.is_primary, p.pk))
        return phones[0].number if phones else "—"

    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm("counterparties.merge_counterparty")

    @admin.action(description=_("Merge selected counterparties…"), permissions=["merge"])
    def merge_selected(self, request, queryset):
        if not self.has_merge_permission(request):
            raise PermissionDenied
        counterparties = list(queryset.order_by("pk"))
        if len(counterparties) < 2:
            self.message_user(request, _("Select at least two counterparties to merge."), messages.WARNING)
            return None
        selected = {c.pk for c in counterparties}
        groups = [g for g in find_duplicate_groups() if g.kind == "duplicate" and set(g.counterparty_ids) & selected]
        survivors = {g.survivor_id for g in groups}
        default = next((c.pk for c in counterparties if c.pk in survivors), counterparties[0].pk)
        unrelated = not any(selected <= set(g.counterparty_ids) for g in groups)
        form = MergeForm(request.POST if "survivor" in request.POST else None, counterparties=counterparties,
                         initial={"survivor": default})
        survivor_id = int(request.POST.get("survivor") or default)
        survivor = next((c for c in counterparties if c.pk == survivor_id), counterparties[0])
        duplicates = [c for c in counterparties if c.pk != survivor.pk]
        plan, refused = None, None
        try:
            plan = plan_merge(survivor, duplicates)
        except MergeRefused as exc:
            refused = exc.message
        if plan is not None and request.POST.get("confirm") == "yes" and form.is_valid():
            try:
                result = merge_counterparties(survivor, duplicates, user=request.user, reason=form.cleaned_data["reason"])
            except MergeRefused as exc:
                refused = exc.message
            else:
                self.message_user(request, ngettext(
                    "%(count)d counterparty merged into “%(name)s”.",
                    "%(count)d counterparties merged into “%(name)s”.",
                    len(result.merged_ids),
                ) % {"count": len(result.merged_ids), "name": survivor.name}, messages.SUCCESS)
                dropped = [f"{b.backend}: {b.external_id}" for b in result.plan.bindings_dropped] + list(result.dropped)
                if dropped:
                    self.message_user(request, _("Dropped (the survivor already had its own): %(items)s")
                                      % {"items": "; ".join(dropped)}, messages.WARNING)
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Merge counterparties"),
            "opts": self.model._meta,
            "counterparties": counterparties,
            "survivor": survivor,
            "duplicates": duplicates,
            "plan": plan,
            "refused": refused,
            "unrelated": unrelated,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "selected": [c.pk for c in counterparties],
        }
        return TemplateResponse(request, "admin/counterparties/merge_confirmation.html", context)


@admin.register(Phone)
class PhoneAdmin(admin.ModelAdmin):
    list_display = ("number", "raw", "counterparty", "is_primary")
    list_select_related = ("counterparty",)
    search_fields = ("=number", "raw", "counterparty__name", "=counterparty__inn")
    list_filter = ("is_primary",)
    autocomplete_fields = ("counterparty",)


@admin.register(Email)
class EmailAdmin(admin.ModelAdmin):
    list_display = ("address", "counterparty", "is_primary")
    list_select_related = ("counterparty",)
    search_fields = ("address", "counterparty__name", "=counterparty__inn")
    list_filter = ("is_primary",)
    autocomplete_fields = ("counterparty",)
