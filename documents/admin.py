"""Documents and payments in the admin: filters, the PDF link, document errors, the re-render action;
our organization's requisites (entered by staff, or fetched from the ERP and shown read-only)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from . import actions
from .errors import DocumentError
from .models import Document, OurOrganization, Payment

RENDER_PERMISSION = "documents.render_document"
QUOTE_PERMISSION = "documents.add_document"


class QuoteForm(forms.Form):
    valid_until = forms.DateField(label=_("valid until"), widget=forms.DateInput(attrs={"type": "date"}),
                                  help_text=_("The offer and its prices hold until this date."))


class HasErrorFilter(admin.SimpleListFilter):
    title = _("document error")
    parameter_name = "has_error"

    def lookups(self, request, model_admin):
        return [("yes", _("with an error")), ("no", _("without errors"))]

    def queryset(self, request, queryset):
        errors = Q(totals_mismatch=True) | Q(status=Document.Status.FAILED)
        if self.value() == "yes":
            return queryset.filter(errors)
        if self.value() == "no":
            return queryset.exclude(errors)
        return queryset


class PaymentInline(admin.TabularInline):
    model = Payment
    fk_name = "invoice"
    extra = 0
    fields = ["number", "erp_id", "paid_at", "amount", "purpose"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "__str__", "order", "kind", "status", "source", "issued_on", "valid_until", "total", "vat_total",
        "erp_total", "totals_mismatch", "pdf_link",
    ]
    list_filter = ["kind", "status", "source", "totals_mismatch", HasErrorFilter, "issued_on"]
    search_fields = ["number", "erp_id", "order__erp_number", "order__lead_id"]
    list_select_related = ["order"]
    date_hierarchy = "requested_at"
    actions = ["rerender"]
    inlines = [PaymentInline]
    readonly_fields = [
        "order", "kind", "status", "source", "upd_status", "erp_id", "number", "issued_on", "valid_until", "total",
        "vat_total",
        "erp_total", "erp_vat_total", "totals_mismatch", "pdf_link", "crm_file_uuid", "error", "requested_by",
        "requested_at", "issued_at",
    ]
    fieldsets = [
        (None, {"fields": ["order", "kind", "upd_status", "status", "source", "number", "issued_on", "valid_until",
                           "pdf_link"]}),
        (_("Totals"), {"fields": ["total", "vat_total", "erp_total", "erp_vat_total", "totals_mismatch", "error"]}),
        (_("Exchange"), {"fields": ["erp_id", "crm_file_uuid", "requested_by", "requested_at", "issued_at"]}),
    ]

    def has_add_permission(self, request):
        return False  # documents are requested from the widget or an order, and answered by the ERP

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("PDF"))
    def pdf_link(self, obj: Document):
        if not obj.pdf:
            return "—"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', obj.pdf.url, _("open PDF"))

    @admin.action(description=_("Re-render the PDF here"), permissions=["render"])
    def rerender(self, request, queryset):
        done = 0
        for document in queryset.select_related("order"):
            if not document.order.lines.exists():
                self.message_user(request, _("%(document)s: the order has no lines.") % {"document": document},
                                  messages.ERROR)
                continue
            try:
                actions.rerender_document(document)
            except DocumentError as exc:
                self.message_user(request, f"{document}: {exc.message}", messages.ERROR)
                continue
            done += 1
        if done:
            message = ngettext("%(count)d PDF rendered.", "%(count)d PDFs rendered.", done) % {"count": done}
            self.message_user(request, message, messages.SUCCESS)

    def has_render_permission(self, request):
        return request.user.has_perm(RENDER_PERMISSION)

    def get_urls(self):
        quote = self.admin_site.admin_view(self.quote_view)
        return [path("quote/<int:order_id>/", quote, name="documents_document_quote"), *super().get_urls()]

    def quote_view(self, request, order_id: int):
        """A quote (КП) of the order: the date it holds until, then the PDF made and attached to the deal."""
        from orders.models import Order
        from orders.types import Actor

        if not request.user.has_perm(QUOTE_PERMISSION):
            raise PermissionDenied
        order = get_object_or_404(Order, pk=order_id)
        form = QuoteForm(request.POST or None, initial={"valid_until": actions.quote_valid_until()})
        if request.method == "POST" and form.is_valid():
            try:
                document = actions.request_quote(order, actor=Actor(source="admin", user=request.user),
                                                 valid_until=form.cleaned_data["valid_until"])
            except DocumentError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
            else:
                self.message_user(request, _("Quote %(number)s made and sent to the deal.") % {
                    "number": document.number}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:documents_document_change", args=[document.pk]))
        context = {**self.admin_site.each_context(request), "title": _("Quote of order %(order)s") % {
            "order": order}, "order": order, "form": form, "opts": self.model._meta}
        return TemplateResponse(request, "admin/documents/document/quote.html", context)


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "order", "invoice", "paid_at", "amount", "erp_id"]
    list_filter = [("order", admin.EmptyFieldListFilter), "paid_at"]
    search_fields = ["number", "erp_id", "purpose", "order__erp_number"]
    list_select_related = ["order", "invoice"]
    date_hierarchy = "paid_at"
    readonly_fields = ["order", "invoice", "erp_id", "number", "paid_at", "amount", "purpose", "created_at"]

    def has_add_permission(self, request):
        return False  # payments come from the ERP (paymentin)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OurOrganization)
class OurOrganizationAdmin(admin.ModelAdmin):
    """One staff-entered row at most; rows fetched from an ERP are read-only (change them in the ERP)."""

    change_list_template = "admin/documents/ourorganization/change_list.html"
    list_display = ["name", "source", "backend", "inn", "kpp", "bank_name", "account", "updated_at"]
    fieldsets = [
        (None, {"fields": ["kind", "name", "inn", "kpp", "ogrn", "address", "phone"]}),
        (_("Bank account"), {"fields": ["bank_name", "bik", "correspondent_account", "account"]}),
        (_("Signatures"), {"fields": ["director", "accountant"]}),
        (_("Source"), {"fields": ["source", "backend", "erp_id", "updated_at"]}),
    ]
    readonly_fields = ["source", "backend", "erp_id", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.source == OurOrganization.Source.ERP:
            return [f.name for f in OurOrganization._meta.fields if f.name != "id"]
        return self.readonly_fields

    def has_add_permission(self, request):
        staff_row = OurOrganization.objects.filter(source=OurOrganization.Source.STAFF).exists()
        return not staff_row and super().has_add_permission(request)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_fetch": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        fetch = self.admin_site.admin_view(require_POST(self.fetch_from_erp))
        return [path("fetch/", fetch, name="documents_ourorganization_fetch"), *super().get_urls()]

    def fetch_from_erp(self, request):
        """Run the `organization` sync of every active ERP backend that has one, and say how it went."""
        from integration.syncs import backends_for, run_sync

        if not self.has_change_permission(request):
            raise PermissionDenied
        backends = backends_for("organization")
        if not backends:
            self.message_user(request, _("No active ERP backend can report our organization."), messages.WARNING)
        for backend in backends:
            try:
                run = run_sync("organization", backend)
            except Exception as exc:  # noqa: BLE001 - the reason is shown to staff, the run records it
                self.message_user(request, f"{backend.name}: {exc}", messages.ERROR)
            else:
                values = {"backend": backend.name, "name": run.details.get("organization", "")}
                if run.dry_run:
                    message = _("%(backend)s is in dry run: our organization was read (%(name)s) but not stored.")
                    self.message_user(request, message % values, messages.WARNING)
                else:
                    message = _("%(backend)s: our organization fetched (%(name)s).")
                    self.message_user(request, message % values, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:documents_ourorganization_changelist"))
