from django.contrib import admin
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.admin import SimpleHistoryAdmin

from integration.staff.bigtables import BigTableAdminMixin, search_words
from integration.staff.mirrored import MirroredAdminMixin, MirroredInlineMixin

from .duplicates import find_duplicate_products
from .formats import format_money, format_quantity
from .merge_admin import ProductMergeAdminMixin
from .models import (
    Barcode,
    Batch,
    Category,
    KitComponent,
    Pack,
    Price,
    PriceList,
    Product,
    Segment,
    StockLevel,
    Unit,
    Warehouse,
)

STOCK_NOTE = _("Stock is the ERP's snapshot and is never pinned here: change it in the ERP (a stock adjustment or a "
                "movement), the next stock refresh brings it.")
PRODUCT_PART_NOTE = _("Part of a product mirrored from the ERP: change it in the ERP, the next catalog sync brings it.")


class ProductPartAdmin(MirroredAdminMixin, admin.ModelAdmin):
    """Barcodes, packs, kit components, batches: rows of a product the ERP owns."""

    local_fields_note = PRODUCT_PART_NOTE

    def erp_bound(self, obj) -> bool:
        return bool(obj.product.erp_id)


@admin.register(Warehouse)
class WarehouseAdmin(MirroredAdminMixin, admin.ModelAdmin):
    synced_fields = ("name", "code", "address", "erp_id", "active")
    pinnable_fields = ("name", "code", "address", "active")
    list_display = ("name", "code", "address", "active", "erp_id")
    list_filter = ("active",)
    search_fields = ("name", "code", "erp_id")


@admin.register(Unit)
class UnitAdmin(MirroredAdminMixin, admin.ModelAdmin):
    synced_fields = ("okei_code", "name", "short_name", "erp_id")
    pinnable_fields = ("name", "short_name")
    list_display = ("okei_code", "name", "short_name", "erp_id")
    search_fields = ("okei_code", "name", "short_name")


@admin.register(Category)
class CategoryAdmin(MirroredAdminMixin, admin.ModelAdmin):
    synced_fields = ("name", "parent", "erp_id")
    pinnable_fields = ("name",)
    list_display = ("name", "parent", "erp_id")
    list_select_related = ("parent",)
    search_fields = ("name", "erp_id")
    autocomplete_fields = ("parent",)


class BarcodeInline(MirroredInlineMixin, admin.TabularInline):
    model = Barcode
    extra = 0


class PackInline(MirroredInlineMixin, admin.TabularInline):
    model = Pack
    extra = 0
    fields = ("unit", "factor", "barcode", "erp_id", "active")


class KitComponentInline(MirroredInlineMixin, admin.TabularInline):
    model = KitComponent
    fk_name = "kit"
    extra = 0
    autocomplete_fields = ("component",)


class PriceInline(MirroredInlineMixin, admin.TabularInline):
    model = Price
    extra = 0
    fields = ("price_list", "amount", "active", "updated_at")
    readonly_fields = ("updated_at",)


class StockInline(admin.TabularInline):
    """The ERP's snapshot, read-only here: stock changes come from the ERP sync."""

    model = StockLevel
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("warehouse", "batch", "on_hand_display", "reserved_display", "expected_display", "available",
              "snapshot_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse", "batch__product")

    @admin.display(description=_("on hand"))
    def on_hand_display(self, obj: StockLevel) -> str:
        return format_quantity(obj.on_hand)

    @admin.display(description=pgettext_lazy("stock quantity", "reserved"))
    def reserved_display(self, obj: StockLevel) -> str:
        return format_quantity(obj.reserved)

    @admin.display(description=_("expected"))
    def expected_display(self, obj: StockLevel) -> str:
        return format_quantity(obj.expected)

    @admin.display(description=_("available"))
    def available(self, obj: StockLevel) -> str:
        return format_quantity(obj.on_hand - obj.reserved + obj.expected)


class DuplicateProductFilter(admin.SimpleListFilter):
    title = _("duplicates")
    parameter_name = "duplicates"

    def lookups(self, request, model_admin):
        return (("barcode", _("shared barcode")), ("name_unit", _("same name and unit")))

    def queryset(self, request, queryset):
        if self.value() in ("barcode", "name_unit"):
            ids = {pk for g in find_duplicate_products() if g.reason == self.value() for pk in g.product_ids}
            return queryset.filter(pk__in=ids)
        return queryset


@admin.register(Product)
class ProductAdmin(ProductMergeAdminMixin, MirroredAdminMixin, BigTableAdminMixin, SimpleHistoryAdmin):
    synced_fields = ("erp_id", "article", "name", "description", "category", "unit", "kind", "vat_rate", "tracking",
                     "active", "archived_at")
    pinnable_fields = ("name", "description", "category", "unit", "kind", "vat_rate", "tracking", "active")
    list_display = ("article", "name", "category", "unit", "kind", "vat_rate", "tracking", "active")
    list_display_links = ("article", "name")
    list_filter = ("kind", "vat_rate", "tracking", "active", "category", DuplicateProductFilter)
    list_select_related = ("category", "unit")
    search_fields = ("^article", "name", "=erp_id")  # and barcodes: see get_search_results
    autocomplete_fields = ("category",)
    readonly_fields = ("created_at", "updated_at", "merged_into")
    inlines = (BarcodeInline, PackInline, KitComponentInline, PriceInline, StockInline)
    actions = ("merge_selected",)
    fieldsets = (
        (None, {"fields": ("article", "name", "description", "category", "unit", "kind", "active")}),
        (_("Tax and tracking"), {"fields": ("vat_rate", "tracking")}),
        (_("ERP"), {"fields": ("erp_id", "archived_at", "merged_into", "created_at", "updated_at")}),
    )

    def get_search_results(self, request, queryset, search_term):
        """Each word matches the article's start, the name, the ERP id, or a barcode of the product or of one of
        its packs. The barcodes are looked up first (two index probes), so the whole search is an OR of indexed
        conditions (trigram on article and name) — no join, hence no SELECT DISTINCT over the catalog."""
        for word in search_words(search_term):
            coded = {*Barcode.objects.filter(value=word).values_list("product_id", flat=True),
                     *Pack.objects.filter(barcode=word).values_list("product_id", flat=True)}
            queryset = queryset.filter(Q(article__istartswith=word) | Q(name__icontains=word) | Q(erp_id=word)
                                       | Q(pk__in=coded))
        return queryset, False


@admin.register(Barcode)
class BarcodeAdmin(ProductPartAdmin):
    synced_fields = ("product", "value", "kind", "active")
    list_display = ("value", "kind", "product")
    list_select_related = ("product",)
    search_fields = ("=value", "product__article", "product__name")
    autocomplete_fields = ("product",)


@admin.register(Pack)
class PackAdmin(ProductPartAdmin):
    synced_fields = ("product", "unit", "factor", "barcode", "erp_id", "active")
    list_display = ("product", "unit", "factor_display", "barcode")
    list_select_related = ("product", "unit")
    search_fields = ("product__article", "product__name", "=barcode")
    list_filter = ("unit",)
    autocomplete_fields = ("product",)

    @admin.display(description=_("base units per pack"), ordering="factor")
    def factor_display(self, obj: Pack) -> str:
        return format_quantity(obj.factor)


@admin.register(KitComponent)
class KitComponentAdmin(ProductPartAdmin):
    synced_fields = ("kit", "component", "quantity", "active")

    def erp_bound(self, obj) -> bool:
        return bool(obj.kit.erp_id)

    list_display = ("kit", "component", "quantity_display")
    list_select_related = ("kit", "component")
    search_fields = ("kit__article", "kit__name", "component__article", "component__name")
    autocomplete_fields = ("kit", "component")

    @admin.display(description=_("quantity per kit"), ordering="quantity")
    def quantity_display(self, obj: KitComponent) -> str:
        return format_quantity(obj.quantity)


@admin.register(Batch)
class BatchAdmin(ProductPartAdmin):
    synced_fields = ("product", "number", "expires_on", "erp_id")

    def erp_bound(self, obj) -> bool:
        return bool(obj.erp_id or obj.product.erp_id)

    list_display = ("product", "number", "expires_on", "erp_id")
    list_select_related = ("product",)
    search_fields = ("number", "product__article", "product__name")
    list_filter = ("expires_on",)
    autocomplete_fields = ("product",)


@admin.register(PriceList)
class PriceListAdmin(MirroredAdminMixin, admin.ModelAdmin):
    synced_fields = ("name", "code", "currency", "erp_id")
    pinnable_fields = ("name",)
    local_fields_note = _("Local and editable: “default” (the list used for clients without a segment).")
    list_display = ("name", "code", "currency", "is_default", "erp_id")
    list_filter = ("currency", "is_default")
    search_fields = ("name", "code", "erp_id")


@admin.register(Segment)
class SegmentAdmin(SimpleHistoryAdmin):
    list_display = ("name", "code", "price_list")
    list_select_related = ("price_list",)
    search_fields = ("name", "code")
    list_filter = ("price_list",)


@admin.register(Price)
class PriceAdmin(MirroredAdminMixin, admin.ModelAdmin):
    synced_fields = ("product", "price_list", "amount", "active")
    pinnable_fields = ("amount",)

    def erp_bound(self, obj) -> bool:
        return bool(obj.product.erp_id)

    list_display = ("product", "price_list", "amount_display", "updated_at")
    list_select_related = ("product", "price_list")
    list_filter = ("price_list",)
    search_fields = ("^product__article", "product__name")
    autocomplete_fields = ("product",)

    @admin.display(description=_("price"), ordering="amount")
    def amount_display(self, obj: Price) -> str:
        return format_money(obj.amount, obj.price_list.currency)


@admin.register(StockLevel)
class StockLevelAdmin(MirroredAdminMixin, admin.ModelAdmin):
    synced_fields = ("product", "warehouse", "batch", "on_hand", "reserved", "expected", "snapshot_at")
    local_fields_note = STOCK_NOTE

    def erp_bound(self, obj) -> bool:
        return bool(obj.product.erp_id or obj.warehouse.erp_id)

    list_display = ("product", "warehouse", "batch", "on_hand_display", "reserved_display", "expected_display",
                    "available_display", "snapshot_at")
    list_select_related = ("product", "warehouse", "batch")
    list_filter = ("warehouse", "snapshot_at")
    search_fields = ("^product__article", "product__name", "=product__barcodes__value", "batch__number")
    autocomplete_fields = ("product", "batch")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(available=F("on_hand") - F("reserved") + F("expected"))

    @admin.display(description=_("on hand"), ordering="on_hand")
    def on_hand_display(self, obj: StockLevel) -> str:
        return format_quantity(obj.on_hand)

    @admin.display(description=pgettext_lazy("stock quantity", "reserved"), ordering="reserved")
    def reserved_display(self, obj: StockLevel) -> str:
        return format_quantity(obj.reserved)

    @admin.display(description=_("expected"), ordering="expected")
    def expected_display(self, obj: StockLevel) -> str:
        return format_quantity(obj.expected)

    @admin.display(description=_("available"), ordering="available")
    def available_display(self, obj: StockLevel) -> str:
        return format_quantity(obj.available)
