"""Input validation and the documented response shapes of the widget API."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from documents.models import Document

MAX_ID = 2**63 - 1
QTY = {"max_digits": 18, "decimal_places": 3}
MONEY = {"max_digits": 16, "decimal_places": 2}


def id_field(**kwargs):
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# ---- input -------------------------------------------------------------------------------------------------
class ProductQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=100, trim_whitespace=True,
                              help_text=_("Part of the name or article, or a barcode."))
    lead_id = id_field(required=False, help_text=_("amoCRM lead: prices of its counterparty's segment."))
    warehouse = id_field(required=False, help_text=_("Only this warehouse's stock."))
    page = serializers.IntegerField(required=False, min_value=1, max_value=10000, default=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)
    fresh = serializers.BooleanField(required=False, default=False,
                                     help_text=_("Refresh stale stock from the ERP before answering (slower)."))


class CartLineSerializer(serializers.Serializer):
    product = id_field()
    quantity = serializers.DecimalField(min_value=Decimal("0.001"), **QTY,
                                        help_text=_("In packs when a pack is given, else in base units."))
    pack = id_field(required=False, allow_null=True)
    warehouse = id_field(required=False, allow_null=True)
    batch = id_field(required=False, allow_null=True)
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=Decimal("0"),
                                                max_value=Decimal("100"), required=False, default=Decimal("0"))


class CartSerializer(serializers.Serializer):
    lines = CartLineSerializer(many=True, max_length=500)
    delivery_address = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ApproveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class DocumentRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[Document.Kind.INVOICE, Document.Kind.UPD, Document.Kind.TORG12,
                                            Document.Kind.QUOTE])
    valid_until = serializers.DateField(required=False, help_text="a quote: the date the offer holds until "
                                                                  "(default: a few days from today)")


# ---- output (documentation of the JSON the views build) ----------------------------------------------------
class StockFiguresSerializer(serializers.Serializer):
    on_hand = serializers.DecimalField(**QTY)
    reserved = serializers.DecimalField(**QTY)
    expected = serializers.DecimalField(**QTY)
    available = serializers.DecimalField(**QTY)


class WarehouseStockSerializer(StockFiguresSerializer):
    warehouse_id = serializers.IntegerField()
    warehouse = serializers.CharField()


class StockSerializer(serializers.Serializer):
    total = StockFiguresSerializer()
    warehouses = WarehouseStockSerializer(many=True)
    snapshot_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField()


class UnitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    okei_code = serializers.CharField()
    short_name = serializers.CharField()


class PackSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    unit = UnitSerializer()
    factor = serializers.DecimalField(**QTY)
    barcode = serializers.CharField()


class ProductSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    article = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    tracking = serializers.CharField()
    vat_rate = serializers.CharField()
    unit = UnitSerializer()
    packs = PackSerializer(many=True)
    barcodes = serializers.ListField(child=serializers.CharField())
    price = serializers.DecimalField(allow_null=True, **MONEY)
    currency = serializers.CharField()
    price_list = serializers.CharField(allow_null=True)
    stock = StockSerializer()


class ProductPageSerializer(serializers.Serializer):
    results = ProductSerializer(many=True)
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    refresh_queued = serializers.BooleanField(
        help_text="Stale stock on the page is being refreshed from the ERP: ask again in a few seconds.")


class LineReserveSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    product_id = serializers.IntegerField()
    warehouse_id = serializers.IntegerField(allow_null=True)
    batch_id = serializers.IntegerField(allow_null=True)
    requested = serializers.DecimalField(**QTY)
    reserved = serializers.DecimalField(**QTY)
    short = serializers.DecimalField(**QTY)


class OrderLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    product_id = serializers.IntegerField()
    article = serializers.CharField()
    name = serializers.CharField()
    warehouse_id = serializers.IntegerField(allow_null=True)
    warehouse_rule = serializers.CharField(help_text=_("What chose the warehouse: chosen, kept, order, counterparty, "
                                                       "backend or stock (empty for a service without one)."))
    batch_id = serializers.IntegerField(allow_null=True)
    pack_id = serializers.IntegerField(allow_null=True)
    quantity = serializers.DecimalField(**QTY)
    base_quantity = serializers.DecimalField(**QTY)
    price = serializers.DecimalField(**MONEY)
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    vat_rate = serializers.CharField()
    total = serializers.DecimalField(**MONEY)
    vat_amount = serializers.DecimalField(**MONEY)
    reserved = serializers.DecimalField(**QTY)
    shipped_quantity = serializers.DecimalField(**QTY)
    returned_quantity = serializers.DecimalField(**QTY)


class ReservationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    line_id = serializers.IntegerField(allow_null=True)
    product_id = serializers.IntegerField()
    warehouse_id = serializers.IntegerField()
    batch_id = serializers.IntegerField(allow_null=True)
    quantity = serializers.DecimalField(**QTY)
    status = serializers.CharField()
    automatic = serializers.BooleanField()


class ApprovalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    shortage = serializers.JSONField()
    requested_by = serializers.CharField()
    decided_by = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


class ConflictSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    field = serializers.CharField()
    erp_value = serializers.JSONField()
    crm_value = serializers.JSONField()
    policy = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class DocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    number = serializers.CharField()
    issued_on = serializers.DateField(allow_null=True)
    total = serializers.DecimalField(**MONEY)
    vat_total = serializers.DecimalField(**MONEY)
    pdf_url = serializers.CharField(allow_null=True)
    error = serializers.CharField(help_text="why the document failed or differs from the ERP's; empty if fine")
    valid_until = serializers.DateField(allow_null=True, help_text="a quote: the offer holds until then")


class PaymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    paid_at = serializers.DateTimeField()
    amount = serializers.DecimalField(**MONEY)


class ShipmentLineSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    quantity = serializers.DecimalField(**QTY)


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    shipped_at = serializers.DateTimeField()
    is_return = serializers.BooleanField()
    lines = ShipmentLineSerializer(many=True)


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    event = serializers.CharField()
    detail = serializers.CharField()


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lead_id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    status = serializers.CharField()
    status_display = serializers.CharField()
    payment_status = serializers.CharField()
    erp_id = serializers.CharField(allow_null=True)
    erp_number = serializers.CharField()
    erp_state = serializers.CharField()
    currency = serializers.CharField()
    price_list = serializers.CharField(allow_null=True)
    delivery_address = serializers.CharField()
    comment = serializers.CharField()
    total = serializers.DecimalField(**MONEY)
    vat_total = serializers.DecimalField(**MONEY)
    version = serializers.IntegerField()
    erp_pending_reason = serializers.CharField(help_text=_("Why a cart waiting for the ERP is not on its way there "
                                                           "yet (empty when it is)."))
    lines = OrderLineSerializer(many=True)
    reservations = ReservationSerializer(many=True)
    approvals = ApprovalSerializer(many=True)
    conflicts = ConflictSerializer(many=True)
    documents = DocumentSerializer(many=True)
    payments = PaymentSerializer(many=True)
    shipments = ShipmentSerializer(many=True)
    timeline = TimelineEntrySerializer(many=True)


class CartResultSerializer(serializers.Serializer):
    status = serializers.CharField()
    erp_number = serializers.CharField()
    version = serializers.IntegerField()
    reserve_note = serializers.CharField(
        help_text="Empty, or (translated) that the reserve will be confirmed by the ERP: its connector does not "
                  "reserve in the same call that writes the order")
    lines = LineReserveSerializer(many=True)
    order = OrderSerializer()


class PingSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    subdomain = serializers.CharField()
    user_id = serializers.IntegerField()
    can_approve = serializers.BooleanField(help_text="whether this amoCRM user may approve a shortage")
    platform = serializers.CharField()
    version = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    reason = serializers.CharField(required=False, help_text="401 only: expired, bad_signature, replayed …")
    shortages = serializers.ListField(child=serializers.DictField(), required=False,
                                      help_text="409 insufficient stock only: the shortage per line")
