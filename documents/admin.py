"""Documents and payments in the admin: filters, the PDF link, document errors, the re-render action."""

from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import actions
from .models import Document, Payment

RENDER_PERMISSION = "documents.render_document"


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
        "__str__", "order", "kind", "status", "source", "issued_on", "total", "vat_total", "erp_total",
        "totals_mismatch", "pdf_link",
    ]
    list_filter = ["kind", "status", "source", "totals_mismatch", HasErrorFilter, "issued_on"]
    search_fields = ["number", "erp_id", "order__erp_number", "order__lead_id"]
    list_select_related = ["order"]
    date_hierarchy = "requested_at"
    actions = ["rerender"]
    inlines = [PaymentInline]
    readonly_fields = [
        "order", "kind", "status", "source", "upd_status", "erp_id", "number", "issued_on", "total", "vat_total",
        "erp_total", "erp_vat_total", "totals_mismatch", "pdf_link", "crm_file_uuid", "error", "requested_by",
        "requested_at", "issued_at",
    ]
    fieldsets = [
        (None, {"fields": ["order", "kind", "upd_status", "status", "source", "number", "issued_on", "pdf_link"]}),
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
            actions.rerender_document(document)
            done += 1
        if done:
            message = ngettext("%(count)d PDF rendered.", "%(count)d PDFs rendered.", done) % {"count": done}
            self.message_user(request, message, messages.SUCCESS)

    def has_render_permission(self, request):
        return request.user.has_perm(RENDER_PERMISSION)


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
