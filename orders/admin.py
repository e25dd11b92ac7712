"""Orders in the admin: lists, filters, the order's lines/reserves/approvals/shipments inline, history,
and the approve-shortage and cancel actions (permissioned)."""

import uuid
from contextlib import suppress

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from counterparties.models import Counterparty
from integration.staff.bigtables import BigTableAdminMixin, search_words
from orders import actions
from orders.errors import OrderError
from orders.models import Approval, Order, OrderLine, Reservation, Shipment, ShipmentLine
from orders.types import Actor
from orders.warehouses import RULE_TEXT


class OrderActionForm(ActionForm):
    reason = forms.CharField(label=_("Reason (for approvals)"), required=False)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = ["position", "product", "warehouse", "warehouse_rule", "batch", "pack", "quantity", "base_quantity", "price",
              "discount_percent", "vat_rate", "total", "vat_amount", "shipped_quantity", "returned_quantity"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


class ReservationInline(admin.TabularInline):
    model = Reservation
    extra = 0
    fields = ["product", "warehouse", "batch", "quantity", "status", "automatic", "confirmed_at", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    fields = ["status", "shortage", "requested_by", "decided_by", "decided_by_crm_user", "reason", "created_at",
              "decided_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ShipmentInline(admin.TabularInline):
    model = Shipment
    extra = 0
    fields = ["number", "erp_id", "shipped_at", "is_return"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(BigTableAdminMixin, SimpleHistoryAdmin):
    list_display = ["__str__", "lead_id", "counterparty", "status", "payment_status", "erp_number", "total",
                    "version", "erp_pending_reason", "updated_at"]
    list_filter = ["status", "payment_status", "warehouse", "currency", "created_at"]
    search_fields = ["=lead_id", "erp_number", "=erp_id", "counterparty__name", "counterparty__inn", "=uuid"]
    list_select_related = ["counterparty"]
    autocomplete_fields = ["counterparty"]  # a <select> of every counterparty (thousands) made the page slow
    date_hierarchy = "created_at"
    readonly_fields = ["uuid", "lead_id", "status", "payment_status", "erp_id", "erp_number", "erp_state",
                       "erp_pending_reason", "warehouse_rule", "erp_updated_at", "price_list", "currency", "total", "vat_total", "version", "first_cart_at",
                       "created_at", "updated_at"]
    fields = ["uuid", "lead_id", "counterparty", "warehouse", "warehouse_rule", "price_list", "currency", "status",
              "payment_status", "erp_id", "erp_number", "erp_state", "erp_pending_reason", "erp_updated_at", "delivery_address", "comment", "total",
              "vat_total", "version", "first_cart_at", "created_at", "updated_at"]
    inlines = [OrderLineInline, ReservationInline, ApprovalInline, ShipmentInline]
    action_form = OrderActionForm
    actions = ["approve_shortage", "cancel_orders"]

    def get_search_results(self, request, queryset, search_term):
        """The search_fields above, each word an OR of indexed conditions: the lead id and uuid when the word
        is one, the ERP id, the ERP number (trigram) and the counterparties found by name or INN (a small table,
        then the orders' counterparty index) — no join, no UPPER(lead_id::text) scan of every order."""
        for word in search_words(search_term):
            counterparties = Counterparty.objects.filter(Q(name__icontains=word) | Q(inn__icontains=word))
            # Their ids first: a literal list lets PostgreSQL OR the indexes (a subquery made it scan every order).
            match = (Q(erp_number__icontains=word) | Q(erp_id=word)
                     | Q(counterparty_id__in=list(counterparties.values_list("pk", flat=True))))
            if word.isdigit() and int(word) < 2**63:
                match |= Q(lead_id=int(word))
            with suppress(ValueError):
                match |= Q(uuid=uuid.UUID(word))
            queryset = queryset.filter(match)
        return queryset, False

    @admin.display(description=_("how lines get a warehouse"))
    def warehouse_rule(self, obj):
        return RULE_TEXT

    def has_approve_shortage_permission(self, request):
        return request.user.has_perm("orders.approve_shortage")

    def _actor(self, request, *, can_approve=False) -> Actor:
        return Actor(user=request.user, can_approve=can_approve, source="admin")

    @admin.action(description=_("Approve the shortage (sell more than is available)"),
                  permissions=["approve_shortage"])
    def approve_shortage(self, request, queryset):
        reason = request.POST.get("reason", "")
        actor = self._actor(request, can_approve=True)
        done = 0
        for order in queryset:
            try:
                actions.approve_shortage(order, actor, reason)
                done += 1
            except OrderError as exc:
                self.message_user(request, f"{order}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, _("Approved: %(count)d.") % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Cancel the orders"), permissions=["change"])
    def cancel_orders(self, request, queryset):
        actor = self._actor(request)
        done = 0
        for order in queryset:
            try:
                actions.cancel(order, actor)
                done += 1
            except OrderError as exc:
                self.message_user(request, f"{order}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, _("Cancelled: %(count)d.") % {"count": done}, messages.SUCCESS)


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ["order", "product", "warehouse", "batch", "quantity", "status", "automatic", "confirmed_at",
                    "created_at"]
    list_filter = ["status", "automatic", "warehouse"]
    search_fields = ["product__article", "product__name", "=order__lead_id", "order__erp_number"]
    list_select_related = ["order", "product", "warehouse", "batch"]
    readonly_fields = [f.name for f in Reservation._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Approval)
class ApprovalAdmin(admin.ModelAdmin):
    list_display = ["order", "status", "requested_by", "decided_by", "decided_by_crm_user", "created_at",
                    "decided_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["=order__lead_id", "order__erp_number", "reason"]
    list_select_related = ["order", "decided_by"]
    readonly_fields = [f.name for f in Approval._meta.fields]

    def has_add_permission(self, request):
        return False


class ShipmentLineInline(admin.TabularInline):
    model = ShipmentLine
    extra = 0
    readonly_fields = ["product", "quantity"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "order", "shipped_at", "is_return", "erp_id"]
    list_filter = ["is_return", "shipped_at"]
    search_fields = ["number", "erp_id", "=order__lead_id", "order__erp_number"]
    list_select_related = ["order"]
    readonly_fields = ["order", "erp_id", "number", "shipped_at", "is_return", "created_at"]
    inlines = [ShipmentLineInline]

    def has_add_permission(self, request):
        return False
