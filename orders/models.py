"""Orders built from amoCRM deals: lines, our own reservations, shortage approvals, shipments and returns."""

import uuid
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from catalog.formats import format_quantity
from catalog.models import MONEY, QTY, VatRate


class Order(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        RESERVE_PENDING = "reserve_pending", _("reserve pending")
        RESERVED = "reserved", pgettext_lazy("order status", "reserved")
        AWAITING_APPROVAL = "awaiting_approval", _("awaiting shortage approval")
        PARTIALLY_SHIPPED = "partially_shipped", _("partially shipped")
        SHIPPED = "shipped", _("shipped")
        CANCELLED = "cancelled", _("cancelled")
        CLOSED = "closed", _("closed")

    class PaymentStatus(models.TextChoices):
        UNPAID = "unpaid", _("unpaid")
        PARTIALLY_PAID = "partially_paid", _("partially paid")
        PAID = "paid", _("paid")

    uuid = models.UUIDField(_("idempotency key"), default=uuid.uuid4, unique=True, editable=False)
    lead_id = models.BigIntegerField(_("amoCRM lead id"), unique=True, null=True, blank=True)
    counterparty = models.ForeignKey(
        "counterparties.Counterparty",
        verbose_name=_("counterparty"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    warehouse = models.ForeignKey(
        "catalog.Warehouse", verbose_name=_("warehouse"), null=True, blank=True, on_delete=models.PROTECT
    )
    price_list = models.ForeignKey(
        "catalog.PriceList", verbose_name=_("price list"), null=True, blank=True, on_delete=models.PROTECT
    )
    currency = models.CharField(_("currency"), max_length=3, default="RUB")
    status = models.CharField(_("status"), max_length=32, choices=Status.choices, default=Status.DRAFT)
    payment_status = models.CharField(
        _("payment status"), max_length=32, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID
    )
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)
    erp_number = models.CharField(_("ERP number"), max_length=64, blank=True)
    erp_state = models.CharField(_("ERP state"), max_length=128, blank=True)
    delivery_address = models.CharField(_("delivery address"), max_length=1000, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    total = models.DecimalField(_("total"), default=Decimal("0"), **MONEY)
    vat_total = models.DecimalField(_("VAT total"), default=Decimal("0"), **MONEY)
    version = models.PositiveIntegerField(_("version"), default=1)
    first_cart_at = models.DateTimeField(_("first cart at"), null=True, blank=True)
    # Why a cart waiting for the ERP has no ERP event queued (e.g. no counterparty yet); empty once one is.
    erp_pending_reason = models.CharField(_("why the ERP has not got it yet"), max_length=1000, blank=True)
    erp_updated_at = models.DateTimeField(_("ERP updated at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at"]
        permissions = [("approve_shortage", _("Can approve selling more than is available"))]

    def __str__(self) -> str:
        return self.erp_number or (f"#{self.lead_id}" if self.lead_id else str(self.uuid)[:8])


class WarehouseRule(models.TextChoices):
    """Which step of the warehouse rule (orders.warehouses) chose a line's warehouse."""

    CHOSEN = "chosen", _("chosen for the line")
    KEPT = "kept", _("kept from the line before")
    ORDER = "order", _("the order's warehouse")
    COUNTERPARTY = "counterparty", _("the counterparty's warehouse")
    BACKEND = "backend", _("the ERP backend's default warehouse")
    STOCK = "stock", _("the most available stock")


class OrderLine(models.Model):
    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(_("position"), default=0)
    product = models.ForeignKey("catalog.Product", verbose_name=_("product"), on_delete=models.PROTECT)
    warehouse = models.ForeignKey(
        "catalog.Warehouse", verbose_name=_("warehouse"), null=True, blank=True, on_delete=models.PROTECT
    )
    warehouse_rule = models.CharField(_("warehouse chosen by"), max_length=16, choices=WarehouseRule.choices,
                                      blank=True)
    batch = models.ForeignKey(
        "catalog.Batch", verbose_name=_("batch"), null=True, blank=True, on_delete=models.PROTECT
    )
    pack = models.ForeignKey(
        "catalog.Pack", verbose_name=_("pack"), null=True, blank=True, on_delete=models.PROTECT
    )
    quantity = models.DecimalField(_("quantity (in the pack or base unit)"), **QTY)
    base_quantity = models.DecimalField(_("quantity in base units"), **QTY)
    price = models.DecimalField(_("price per unit"), **MONEY)
    discount_percent = models.DecimalField(_("discount, %"), max_digits=5, decimal_places=2, default=Decimal("0"))
    vat_rate = models.CharField(_("VAT rate"), max_length=8, choices=VatRate.choices, default=VatRate.VAT_22)
    total = models.DecimalField(_("line total"), **MONEY)
    vat_amount = models.DecimalField(_("VAT amount"), default=Decimal("0"), **MONEY)
    shipped_quantity = models.DecimalField(_("shipped (base units)"), default=Decimal("0"), **QTY)
    returned_quantity = models.DecimalField(_("returned (base units)"), default=Decimal("0"), **QTY)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["order", "position"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive")]

    @property
    def base_price(self) -> Decimal:
        """The price per base unit, to the kopeck (half up): what the ERP is sent and compared with."""
        factor = self.pack.factor if self.pack_id else Decimal("1")
        return (self.price / factor).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def __str__(self) -> str:
        return f"{self.product} × {format_quantity(self.quantity)}"


class Reservation(models.Model):
    """Our own reserve of base units, kept until the ERP's stock snapshot includes it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending in ERP")
        CONFIRMED = "confirmed", _("confirmed by ERP")
        RELEASED = "released", _("released")

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="reservations")
    line = models.ForeignKey(
        OrderLine, verbose_name=_("order line"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="reservations",
    )
    product = models.ForeignKey("catalog.Product", verbose_name=_("product"), on_delete=models.PROTECT)
    warehouse = models.ForeignKey("catalog.Warehouse", verbose_name=_("warehouse"), on_delete=models.PROTECT)
    batch = models.ForeignKey(
        "catalog.Batch", verbose_name=_("batch"), null=True, blank=True, on_delete=models.PROTECT
    )
    quantity = models.DecimalField(_("quantity (base units)"), **QTY)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    automatic = models.BooleanField(_("automatic"), default=True)
    # When the ERP confirmed it; the reserve is in the ERP's figures once a stock snapshot newer than this arrives.
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=0), name="reservation_not_negative")]
        indexes = [models.Index(fields=["product", "warehouse", "status"], name="reservation_stock_idx")]

    def __str__(self) -> str:
        return f"{self.product} × {format_quantity(self.quantity)} @ {self.warehouse}"


class Approval(models.Model):
    """An explicit go-ahead for selling more than is available ("в минус")."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("requested")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="approvals")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.REQUESTED)
    shortage = models.JSONField(_("shortage per line"), default=list)
    requested_by = models.CharField(_("requested by"), max_length=255, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    decided_by_crm_user = models.BigIntegerField(_("decided by (amoCRM user id)"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("shortage approval")
        verbose_name_plural = _("shortage approvals")

    def __str__(self) -> str:
        return f"{self.order} — {self.get_status_display()}"


class Shipment(models.Model):
    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="shipments")
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)
    number = models.CharField(_("number"), max_length=64, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"))
    is_return = models.BooleanField(_("return"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["shipped_at"]

    def __str__(self) -> str:
        return self.number or str(self.pk)


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, verbose_name=_("shipment"), on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", verbose_name=_("product"), on_delete=models.PROTECT)
    quantity = models.DecimalField(_("quantity (base units)"), **QTY)

    class Meta:
        verbose_name = _("shipment line")
        verbose_name_plural = _("shipment lines")

    def __str__(self) -> str:
        return f"{self.product} × {format_quantity(self.quantity)}"
