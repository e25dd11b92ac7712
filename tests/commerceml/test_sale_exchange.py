"""1C's sale exchange over real HTTP: our orders out as orders.xml (once, again only when changed), and 1C's
answers (number, posting, status, payment, shipment, cancellation) back into the order and the deal."""

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Product, Warehouse
from counterparties.models import Counterparty
from documents.models import Payment
from integration import relay
from integration.erp.commerceml.adapter import last_exchange
from integration.erp.services import reserve_note
from integration.models import Backend, OutboxEvent, SyncRun
from integration.sandbox.commerceml import files
from orders import actions
from orders.models import Order, Reservation, Shipment
from orders.types import Actor, CartLine
from tests.commerceml.conftest import demo_files
from tests.commerceml.schemas import schema_errors

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ADMIN = Actor(source="admin")


@pytest.fixture
def shop(exchange):
    exchange().exchange_catalog(demo_files())
    return exchange


def place(quantity=Decimal(5), lead_id=3001) -> Order:
    customer = Counterparty.objects.create(kind="legal", name="ООО Ромашка", full_name='ООО "Ромашка"',
                                           inn="7707083893", kpp="770701001", legal_address="Москва, ул. Тверская, 1")
    order = actions.get_or_create_order_for_lead(lead_id, counterparty=customer,
                                                 warehouse=Warehouse.objects.get(name="Основной склад"))
    cable = Product.objects.get(erp_id=files.DEMO[0].erp_id)
    actions.set_cart(order, [CartLine(product_id=cable.pk, quantity=quantity)], actor=ADMIN,
                     delivery_address="Москва, ул. Складская, 5", comment="Позвонить за час")
    return Order.objects.get(pk=order.pk)


def documents(xml: bytes) -> list[ET.Element]:
    root = ET.fromstring(xml)
    return [el for el in root if el.tag.endswith("Документ")]


def field(element: ET.Element, path: str) -> str:
    ns = "{urn:1C.ru:commerceml_2}"
    found = element.find("/".join(ns + part for part in path.split("/")))
    return found.text if found is not None else None


def requisites(element: ET.Element) -> dict[str, str]:
    return {field(r, "Наименование"): field(r, "Значение")
            for r in element.iterfind("{urn:1C.ru:commerceml_2}ЗначенияРеквизитов/{urn:1C.ru:commerceml_2}ЗначениеРеквизита")}


def test_orders_are_exported_once_and_again_only_when_changed(shop):
    order = place()
    note = reserve_note(order)  # the widget's answer: 1C reserves at its next exchange, and when the last one was
    assert order.status == "reserve_pending" and "next exchange (last exchange " in note
    relay.relay_once("cml-test")  # erp.order.upsert: nothing to push, the order says when 1C takes it
    order.refresh_from_db()
    assert "next exchange" in order.erp_pending_reason or "следующем обмене" in order.erp_pending_reason
    assert not OutboxEvent.objects.filter(topic="erp.order.upsert").exclude(status="delivered").exists()

    unacknowledged = shop().query_orders(acknowledge=False)
    assert schema_errors(unacknowledged) == {"2.08": [], "2.10": []}
    [doc] = documents(unacknowledged)
    assert field(doc, "Ид") == str(order.uuid) and field(doc, "ХозОперация") == "Заказ товара"
    assert field(doc, "Сумма") == "492.50" and field(doc, "Номер") == str(order.pk)
    assert field(doc, "Контрагенты/Контрагент/ИНН") == "7707083893"
    assert field(doc, "Контрагенты/Контрагент/ОфициальноеНаименование") == 'ООО "Ромашка"'
    assert field(doc, "Товары/Товар/Ид") == files.DEMO[0].erp_id
    assert (field(doc, "Товары/Товар/Количество"), field(doc, "Товары/Товар/ЦенаЗаЕдиницу")) == ("5", "98.50")
    assert field(doc, "Товары/Товар/СтавкиНалогов/СтавкаНалога/Ставка") == "22"
    assert field(doc, "Товары/Товар/Налоги/Налог/Сумма") == str(order.vat_total)
    assert field(doc, "Комментарий") == "Позвонить за час"
    assert requisites(doc)["Адрес доставки"] == "Москва, ул. Складская, 5"

    assert len(documents(shop().query_orders())) == 1  # never acknowledged: handed out again, now acknowledged
    assert documents(shop().query_orders()) == []  # 1C has it: not again
    actions.set_cart(order, [CartLine(product_id=Product.objects.get(erp_id=files.DEMO[0].erp_id).pk,
                                      quantity=Decimal(7))], actor=ADMIN)
    [again] = documents(shop().query_orders())
    assert field(again, "Товары/Товар/Количество") == "7"
    assert documents(shop().query_orders()) == []

    actions.cancel(order, ADMIN)  # the cancellation reaches 1C at its next exchange
    for _batch in range(5):  # one event of an order per batch: the upsert of the new cart, then the cancel
        OutboxEvent.objects.exclude(status="delivered").update(next_attempt_at=timezone.now())
        relay.relay_once("cml-test")
    assert OutboxEvent.objects.get(topic="erp.order.cancel").status == "delivered"
    [cancelled] = documents(shop().query_orders())
    assert requisites(cancelled)["Отменен"] == "true"


def test_round_quantities_go_to_1c_as_plain_numbers(shop):
    """Found using `make demo ERP=cml`: 10 metres went out as <Количество>1E+1</Количество> (a normalised Decimal),
    which is no xs:decimal and which 1C does not read as a number."""
    order = place(quantity=Decimal(100))
    xml = shop().query_orders(acknowledge=False)
    assert schema_errors(xml) == {"2.08": [], "2.10": []}
    [doc] = documents(xml)
    assert field(doc, "Товары/Товар/Количество") == "100" and field(doc, "Сумма") == str(order.total)


def test_answers_of_1c_move_the_order_its_payments_shipments_and_the_deal(shop):
    Backend.objects.create(name="amo", kind=Backend.Kind.AMOCRM, base_url="https://amo.invalid/")  # the deal's CRM
    order = place()
    shop().query_orders()
    crm_events = OutboxEvent.objects.filter(topic="crm.lead.sync")
    crm_events.update(status="delivered")  # the deal knows the order as it was placed

    posted = {"Ид": order.uuid, "Номер": order.pk, "Сумма": order.total, "Номер по 1С": "ЗК-000123",
              "Дата по 1С": "2026-12-01", "Проведен": "true", "Статус заказа": "Подтвержден",
              "Дата оплаты по 1С": "T", "Дата отгрузки по 1С": "T"}
    shop().send_orders(files.answer_xml([posted]))
    order.refresh_from_db()
    assert (order.erp_number, order.erp_state, order.status) == ("ЗК-000123", "Подтвержден", "reserved")
    assert order.erp_pending_reason == ""
    assert {r.status for r in Reservation.objects.filter(order=order)} == {"confirmed"}
    assert crm_events.filter(status="pending").count() == 1  # the deal is told

    shop().send_orders(files.answer_xml([posted]))  # the same answer again writes nothing
    assert SyncRun.objects.filter(kind="orders").latest("pk").unchanged == 1

    done = {**posted, "Дата оплаты по 1С": "2026-12-02T10:00:00", "Номер оплаты по 1С": "ПП-77",
            "Дата отгрузки по 1С": "03.12.2026 12:00:00", "Номер отгрузки по 1С": "РТ-55"}
    shop(version="2.08").send_orders(files.answer_xml([done], encoding="windows-1251"))  # file, then import
    order.refresh_from_db()
    payment = Payment.objects.get(order=order)
    assert (payment.number, payment.amount, payment.paid_at.date().isoformat()) == ("ПП-77", order.total, "2026-12-02")
    assert order.payment_status == "paid"
    shipment = Shipment.objects.get(order=order)
    assert shipment.number == "РТ-55" and order.status == "closed"  # paid and shipped
    assert documents(shop().query_orders()) == []  # what 1C set does not bounce back to it

    shop().send_orders(files.answer_xml([{**done, "Отменен": "true"}]))
    order.refresh_from_db()
    assert order.erp_state == "Отменён"
    assert Payment.objects.filter(order=order).count() == 1 and Shipment.objects.filter(order=order).count() == 1


def test_a_long_answer_on_the_old_protocol_comes_in_parts_and_is_imported_whole(shop):
    """Without `version`, 1C's orders.xml is imported as it arrives; one longer than file_limit (4 KB here) comes as
    several `file` POSTs, and the import waits for the part that closes the document."""
    order = place()
    shop().query_orders()
    posted = {"Ид": order.uuid, "Номер": order.pk, "Сумма": order.total, "Номер по 1С": "ЗК-000125",
              "Проведен": "true", "Комментарий": "Доставка до склада клиента. " * 120}
    answer = files.answer_xml([posted])
    assert len(answer) > 4096
    assert shop().send_orders(answer) == ["success"]
    order.refresh_from_db()
    assert order.erp_number == "ЗК-000125"


def test_payments_and_shipments_1c_sends_as_documents_of_their_own(shop):
    """A part payment and a partial shipment arrive as 1C's own documents naming the order in <Основание>: each is
    recorded with its own amount and rows, once, and the order's requisites naming the same payment do not turn it
    into a payment of the whole order; the rest comes as 2.10 ПодчиненныеДокументы of the order."""
    order = place()
    shop().query_orders()
    cable = files.DEMO[0].erp_id
    part = (order.total * 2 / 5).quantize(Decimal("0.01"))
    price = order.lines.get().price
    posted = {"Ид": order.uuid, "Номер": order.pk, "Сумма": order.total, "Номер по 1С": "ЗК-000124",
              "Проведен": "true", "Статус заказа": "Подтвержден"}
    paid = {"Ид": "pay-1", "Номер": "ПП-1", "Дата": "2026-12-02", "ХозОперация": "Выплата безналичных денег",
            "Сумма": part, "Основание": order.uuid, "Проведен": "true"}
    shipped = {"Ид": "ship-1", "Номер": "РТ-1", "Дата": "2026-12-03", "ХозОперация": "Отпуск товара",
               "Сумма": part, "Основание": order.uuid, "Товары": [(cable, 2, price)], "Проведен": "true"}
    draft = {**paid, "Ид": "pay-0", "Номер": "ПП-0", "Проведен": "false"}  # not posted: not money yet
    answer = files.answer_xml([posted, paid, shipped, draft])
    assert len(answer) > 4096  # longer than file_limit: on the old protocol it comes in parts, imported when whole
    shop().send_orders(answer)
    shop().send_orders(answer)  # sent again: nothing doubles

    order.refresh_from_db()
    [payment] = Payment.objects.filter(order=order)
    assert (payment.number, payment.amount, timezone.localdate(payment.paid_at).isoformat()) == ("ПП-1", part, "2026-12-02")
    assert order.payment_status == "partially_paid" and order.erp_number == "ЗК-000124"
    [shipment] = Shipment.objects.filter(order=order)
    assert shipment.number == "РТ-1" and [line.quantity for line in shipment.lines.all()] == [Decimal(2)]

    summary = {**posted, "Дата оплаты по 1С": "2026-12-02", "Номер оплаты по 1С": "ПП-1"}
    shop().send_orders(files.answer_xml([summary]))  # the order's requisites name the same payment
    assert [p.amount for p in Payment.objects.filter(order=order)] == [part]

    own = ("Ид", "Номер", "Дата", "ХозОперация", "Сумма", "Проведен")  # a subordinate's order is its parent
    rest = {**summary, "Подчиненные": [
        {**{k: paid[k] for k in own}, "Ид": "pay-2", "Номер": "ПП-2", "Сумма": order.total - part}]}
    xml = files.answer_xml([rest])
    assert schema_errors(xml)["2.10"] == []
    shop().send_orders(xml)
    # and the last shipment names the order by 1C's number of it
    shop().send_orders(files.answer_xml([{**shipped, "Ид": "ship-2", "Номер": "РТ-2", "Основание": "ЗК-000124",
                                          "Товары": [(cable, 3, price)]}]))
    order.refresh_from_db()
    assert sorted(p.amount for p in Payment.objects.filter(order=order)) == sorted([part, order.total - part])
    assert order.payment_status == "paid"
    assert sorted(s.number for s in Shipment.objects.filter(order=order)) == ["РТ-1", "РТ-2"]
    assert order.status == "closed"  # paid and shipped in full


def test_info_lists_our_statuses(shop):
    simulator = shop()
    simulator.checkauth("sale")
    response = simulator.call("sale", "info")
    root = ET.fromstring(response.content)
    assert [el.findtext("Ид") for el in root.find("Cтатусы")] == [value for value, _label in Order.Status.choices]
    assert last_exchange(shop.backend) is not None  # the order's "reserve at the next exchange" note shows it
