"""Rows for the admin UI tests, made with the models directly (no other area's factories)."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from catalog.models import Product, Unit, Warehouse
from counterparties.models import Counterparty, Phone
from documents.models import Document, Payment
from integration.models import Backend, Conflict, JournalEntry, OutboxEvent
from orders.models import Order, OrderLine, Reservation, Shipment, ShipmentLine


def backends():
    crm = Backend.objects.create(name="crm", kind=Backend.Kind.AMOCRM, base_url="http://127.0.0.1:9/",
                                 credentials={"access_token": "secret-token-value", "client_secret": "cs"})
    erp = Backend.objects.create(name="erp", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/",
                                 credentials={"login": "admin@x", "password": "secret-password"})
    return crm, erp


def order_with_everything(crm: Backend, erp: Backend) -> Order:
    now = timezone.now()
    unit = Unit.objects.create(okei_code="796", name="штука", short_name="шт")
    warehouse = Warehouse.objects.create(name="Основной склад")
    product = Product.objects.create(article="NAIL-100", name="Гвоздь 100 мм", unit=unit)
    buyer = Counterparty.objects.create(kind="legal", name="ООО Ромашка", inn="7707083893", kpp="773601001")
    order = Order.objects.create(lead_id=4242, counterparty=buyer, warehouse=warehouse, total=Decimal("1220.00"),
                                 first_cart_at=now - timedelta(hours=5))
    order.status = Order.Status.RESERVED
    order.erp_number = "00042"
    order._change_reason = "ERP confirmed"
    order.save()
    line = OrderLine.objects.create(order=order, product=product, warehouse=warehouse, quantity=Decimal("10"), base_quantity=Decimal("10"),
                                    price=Decimal("122"), total=Decimal("1220"))
    Reservation.objects.create(order=order, line=line, product=product, warehouse=warehouse, quantity=Decimal("10"),
                               status=Reservation.Status.CONFIRMED, confirmed_at=now - timedelta(hours=4))
    key = f"orders.order:{order.pk}"
    OutboxEvent.objects.create(backend=erp, topic="erp.order.upsert", aggregate_type="orders.order",
                               aggregate_id=str(order.pk), idempotency_key=f"{key}:1", attempts=1,
                               status=OutboxEvent.Status.DELIVERED, created_at=now - timedelta(hours=5),
                               delivered_at=now - timedelta(hours=4, minutes=59))
    OutboxEvent.objects.create(backend=crm, topic="crm.lead.sync", aggregate_type="orders.order",
                               aggregate_id=str(order.pk), idempotency_key=f"{key}:2", attempts=3,
                               status=OutboxEvent.Status.DEAD, last_error="400 Bad Request: field 123 unknown",
                               created_at=now - timedelta(hours=3))
    order_type = ContentType.objects.get_for_model(Order)
    JournalEntry.objects.create(backend=erp, direction="out", method="POST", url="https://erp/entity/customerorder",
                                status_code=200, duration_ms=120, content_type=order_type, object_id=str(order.pk),
                                created_at=now - timedelta(hours=4, minutes=59))
    JournalEntry.objects.create(backend=crm, direction="out", method="PATCH", url="https://crm/api/v4/leads/4242",
                                status_code=400, error="field 123 unknown", content_type=order_type,
                                object_id=str(order.pk), created_at=now - timedelta(hours=3))
    Conflict.objects.create(content_type=ContentType.objects.get_for_model(OrderLine), object_id=line.pk,
                            object_repr=str(line), field="quantity", erp_value="8", crm_value="10",
                            status=Conflict.Status.OPEN, created_at=now - timedelta(hours=2),
                            last_seen_at=now - timedelta(hours=2))
    invoice = Document.objects.create(order=order, kind=Document.Kind.INVOICE, status=Document.Status.ISSUED,
                                      number="СЧ-17", total=Decimal("1220"), erp_total=Decimal("1220.01"),
                                      totals_mismatch=True, issued_at=now - timedelta(hours=1, minutes=30))
    Payment.objects.create(order=order, invoice=invoice, number="ПП-5", amount=Decimal("500"),
                           paid_at=now - timedelta(hours=1))
    shipment = Shipment.objects.create(order=order, number="ОТГ-3", shipped_at=now - timedelta(minutes=30))
    ShipmentLine.objects.create(shipment=shipment, product=product, quantity=Decimal("4"))
    return order


def duplicate_counterparties() -> tuple[Counterparty, Counterparty]:
    first = Counterparty.objects.create(kind="individual", name="Иванов Иван")
    Phone.objects.create(counterparty=first, number="+79161234567", raw="8 916 123-45-67")
    second = Counterparty.objects.create(kind="individual", name="Иван Иванов")
    Phone.objects.create(counterparty=second, number="+79161234567", raw="+7 (916) 123 45 67")
    return first, second
