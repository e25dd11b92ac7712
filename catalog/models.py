"""Master data mirrored from the ERP: products, units and packs, kits, batches, warehouses, prices, stock."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from .formats import format_money

QTY = {"max_digits": 18, "decimal_places": 3}
MONEY = {"max_digits": 16, "decimal_places": 2}


class VatRate(models.TextChoices):
    VAT_22 = "22", _("22%")
    VAT_10 = "10", _("10%")
    VAT_0 = "0", _("0%")
    VAT_5 = "5", _("5% (simplified tax system)")
    VAT_7 = "7", _("7% (simplified tax system)")
    NONE = "none", _("Without VAT")

    @classmethod
    def percent(cls, value: str) -> Decimal | None:
        """The rate as a Decimal percentage, or None for "без НДС"."""
        return None if value == cls.NONE else Decimal(value)


class Warehouse(models.Model):
    name = models.CharField(pgettext_lazy("title", "name"), max_length=255, unique=True)
    code = models.CharField(_("code"), max_length=64, blank=True)
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)
    address = models.CharField(_("address"), max_length=500, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Unit(models.Model):
    okei_code = models.CharField(_("OKEI code"), max_length=8, unique=True)
    name = models.CharField(pgettext_lazy("title", "name"), max_length=64)
    short_name = models.CharField(_("short name"), max_length=16)
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["okei_code"]

    def __str__(self) -> str:
        return f"{self.short_name} ({self.okei_code})"


class Category(models.Model):
    name = models.CharField(pgettext_lazy("title", "name"), max_length=255)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    class Kind(models.TextChoices):
        GOODS = "goods", _("goods")
        SERVICE = "service", _("service")
        KIT = "kit", _("kit")

    class Tracking(models.TextChoices):
        NONE = "none", _("not tracked")
        BATCH = "batch", _("by batch")
        SERIAL = "serial", _("by serial number")

    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)
    article = models.CharField(_("article"), max_length=64, unique=True)
    name = models.CharField(pgettext_lazy("title", "name"), max_length=500, db_index=True)
    description = models.TextField(_("description"), blank=True)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    unit = models.ForeignKey(Unit, verbose_name=_("base unit"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.GOODS)
    vat_rate = models.CharField(_("VAT rate"), max_length=8, choices=VatRate.choices, default=VatRate.VAT_22)
    tracking = models.CharField(_("tracking"), max_length=16, choices=Tracking.choices, default=Tracking.NONE)
    active = models.BooleanField(_("active"), default=True)
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", verbose_name=_("merged into"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="merged_from", editable=False,  # set by catalog.merge only
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # A reader found this product's stock stale and asked for a refresh off its request path (one request per
    # product however many readers ask); cleared by the refresh that answers it.
    stock_refresh_requested_at = models.DateTimeField(
        _("stock refresh requested at"), null=True, blank=True, editable=False
    )
    history = HistoricalRecords(excluded_fields=["stock_refresh_requested_at"])

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["article"]
        permissions = [("merge_product", _("Can merge duplicate products"))]
        indexes = [
            models.Index(fields=["stock_refresh_requested_at"], condition=Q(stock_refresh_requested_at__isnull=False),
                         name="product_stock_refresh_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.article} {self.name}"


class ActiveManager(models.Manager):
    """Rows still listed by the ERP. Children of a product (barcodes, packs, kit components, prices) are
    deactivated, never deleted, when the ERP drops them (an order line may still point at a pack);
    `objects` hides them from every read, `all_objects` (the default manager: admin, relations) keeps them."""

    def get_queryset(self):
        return super().get_queryset().filter(active=True)


class Barcode(models.Model):
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="barcodes")
    value = models.CharField(_("barcode"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, default="ean13")
    active = models.BooleanField(_("active"), default=True, db_default=True)

    all_objects = models.Manager()
    objects = ActiveManager()

    class Meta:
        default_manager_name = "all_objects"
        verbose_name = _("barcode")
        verbose_name_plural = _("barcodes")

    def __str__(self) -> str:
        return self.value


class Pack(models.Model):
    """A pack of a product: `factor` base units in one `unit` (a box of 12 pcs)."""

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="packs")
    unit = models.ForeignKey(Unit, verbose_name=_("unit"), on_delete=models.PROTECT, related_name="+")
    factor = models.DecimalField(_("base units per pack"), validators=[MinValueValidator(Decimal("0.001"))], **QTY)
    barcode = models.CharField(_("barcode"), max_length=64, blank=True)
    erp_id = models.CharField(_("ERP id"), max_length=64, null=True, blank=True)
    active = models.BooleanField(_("active"), default=True, db_default=True)

    all_objects = models.Manager()
    objects = ActiveManager()

    class Meta:
        default_manager_name = "all_objects"
        verbose_name = _("pack")
        verbose_name_plural = _("packs")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "unit"], condition=Q(active=True), name="pack_unique_active_unit"
            ),
            models.CheckConstraint(condition=Q(factor__gt=0), name="pack_factor_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.unit.short_name} × {self.factor.normalize():f}"


class KitComponent(models.Model):
    kit = models.ForeignKey(Product, verbose_name=_("kit"), on_delete=models.CASCADE, related_name="components")
    component = models.ForeignKey(
        Product, verbose_name=_("component"), on_delete=models.PROTECT, related_name="used_in_kits"
    )
    quantity = models.DecimalField(_("quantity per kit"), **QTY)
    active = models.BooleanField(_("active"), default=True, db_default=True)

    all_objects = models.Manager()
    objects = ActiveManager()

    class Meta:
        default_manager_name = "all_objects"
        verbose_name = _("kit component")
        verbose_name_plural = _("kit components")
        constraints = [
            models.UniqueConstraint(fields=["kit", "component"], name="kit_component_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="kit_component_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.component} × {self.quantity.normalize():f}"


class Batch(models.Model):
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="batches")
    number = models.CharField(_("batch number"), max_length=64)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)

    class Meta:
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        constraints = [models.UniqueConstraint(fields=["product", "number"], name="batch_unique_number")]

    def __str__(self) -> str:
        return f"{self.product.article} / {self.number}"


class PriceList(models.Model):
    name = models.CharField(pgettext_lazy("title", "name"), max_length=255, unique=True)
    code = models.CharField(_("code"), max_length=64, unique=True)
    currency = models.CharField(_("currency"), max_length=3, default="RUB")
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        verbose_name = _("price list")
        verbose_name_plural = _("price lists")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class Segment(models.Model):
    """A client segment (retail, wholesale, dealers …) and the price list its clients buy at."""

    name = models.CharField(pgettext_lazy("title", "name"), max_length=255, unique=True)
    code = models.CharField(_("code"), max_length=64, unique=True)
    price_list = models.ForeignKey(
        PriceList, verbose_name=_("price list"), on_delete=models.PROTECT, related_name="segments"
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("client segment")
        verbose_name_plural = _("client segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Price(models.Model):
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="prices")
    price_list = models.ForeignKey(
        PriceList, verbose_name=_("price list"), on_delete=models.CASCADE, related_name="prices"
    )
    amount = models.DecimalField(_("price"), validators=[MinValueValidator(Decimal("0"))], **MONEY)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    active = models.BooleanField(_("active"), default=True, db_default=True)

    all_objects = models.Manager()
    objects = ActiveManager()

    class Meta:
        default_manager_name = "all_objects"
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [
            models.UniqueConstraint(fields=["product", "price_list"], name="price_unique_per_list"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product.article}: {format_money(self.amount, self.price_list.currency)}"


class StockLevel(models.Model):
    """The ERP's last snapshot of one product in one warehouse (and batch, where tracked), in base units."""

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="stock")
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("warehouse"), on_delete=models.CASCADE, related_name="stock"
    )
    batch = models.ForeignKey(
        Batch, verbose_name=_("batch"), null=True, blank=True, on_delete=models.CASCADE, related_name="stock"
    )
    on_hand = models.DecimalField(_("on hand"), default=Decimal("0"), **QTY)
    reserved = models.DecimalField(pgettext_lazy("stock quantity", "reserved"), default=Decimal("0"), **QTY)
    expected = models.DecimalField(_("expected"), default=Decimal("0"), **QTY)
    snapshot_at = models.DateTimeField(_("ERP snapshot at"), null=True, blank=True)

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "warehouse"], condition=Q(batch__isnull=True), name="stock_unique_no_batch"
            ),
            models.UniqueConstraint(
                fields=["product", "warehouse", "batch"], condition=Q(batch__isnull=False), name="stock_unique_batch"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.article} @ {self.warehouse.name}"

