"""`sale&mode=query`: our orders as CommerceML `<Документ>`s for 1C, each handed out until 1C acknowledges.

An order is exported when its document differs from the one 1C last acknowledged (a Binding of the order to
this backend holds that document's hash): `query` lists them and keeps their hashes in the exchange session;
only `sale&mode=success` of the same session writes the bindings, so an answer 1C never received is sent
again (at least once), and an order 1C already has is not sent again until it changes. What 1C itself sets
(its number, the status, payments and shipments) is not part of the document: its answers do not bounce back.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from integration.erp.commerceml.sessions import Session
from integration.erp.importers.bulk import copy_rows
from integration.erp.importers.catalog import BINDING_COLUMNS
from integration.models import Backend, Binding
from orders.models import Order

SCHEMA_VERSION = "2.08"
CENT = Decimal("0.01")
NO_VAT = "Без налога"


def _add(parent: ET.Element, name: str, value: object = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, name, attrs)
    if value is not None:
        element.text = str(value)
    return element


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT))


def _plain(value: Decimal) -> str:
    """Without trailing zeros and never in exponent form (a normalised 100 is 1E+2: no xs:decimal, 1C reads no
    number there)."""
    return format(Decimal(value).normalize(), "f")


def _requisite(parent: ET.Element, name: str, value: str) -> None:
    item = _add(parent, "ЗначениеРеквизита")
    _add(item, "Наименование", name)
    _add(item, "Значение", value)


def _counterparty(parent: ET.Element, order: Order) -> None:
    """Элементы in the XSD's order: a legal entity (ОфициальноеНаименование, ЮридическийАдрес — 1C makes a legal
    entity of it) or a person/entrepreneur (ПолноеНаименование, АдресРегистрации), then contacts and the role."""
    party = order.counterparty
    holder = _add(_add(parent, "Контрагенты"), "Контрагент")
    _add(holder, "Ид", party.erp_id or f"amoerp-{party.pk}")
    _add(holder, "Наименование", party.name)
    legal = party.kind == "legal"
    _add(holder, "ОфициальноеНаименование" if legal else "ПолноеНаименование", party.full_name or party.name)
    if legal and party.legal_address:
        _add(_add(holder, "ЮридическийАдрес"), "Представление", party.legal_address)
    if party.inn:
        _add(holder, "ИНН", party.inn)
    if party.kpp:
        _add(holder, "КПП", party.kpp)
    if not legal and party.legal_address:
        _add(_add(holder, "АдресРегистрации"), "Представление", party.legal_address)
    contacts = [("Почта", e.address) for e in party.emails.all()]
    contacts += [("ТелефонРабочий", p.number) for p in party.phones.all()]  # plain «Телефон» is dropped by 1C
    if contacts:
        box = _add(holder, "Контакты")
        for kind, value in contacts:
            contact = _add(box, "Контакт")
            _add(contact, "Тип", kind)
            _add(contact, "Значение", value)
    _add(holder, "Роль", "Покупатель")


def _vat(parent: ET.Element, amount: Decimal) -> None:
    tax = _add(_add(parent, "Налоги"), "Налог")
    _add(tax, "Наименование", "НДС")
    _add(tax, "УчтеноВСумме", "true")
    _add(tax, "Сумма", _money(amount))


def document(order: Order) -> ET.Element:
    """One order as a `<Документ>` «Заказ товара» keyed by our order key (1C updates instead of duplicating);
    elements in the order of the 2.08/2.10 XSDs."""
    doc = ET.Element("Документ")
    _add(doc, "Ид", str(order.uuid))
    _add(doc, "Номер", str(order.pk))
    local = timezone.localtime(order.created_at)
    _add(doc, "Дата", local.date().isoformat())
    _add(doc, "ХозОперация", "Заказ товара")
    _add(doc, "Роль", "Продавец")
    _add(doc, "Валюта", "руб" if order.currency == "RUB" else order.currency)
    _add(doc, "Курс", "1")
    _add(doc, "Сумма", _money(order.total))
    _counterparty(doc, order)
    _add(doc, "Время", local.strftime("%H:%M:%S"))
    if order.comment:
        _add(doc, "Комментарий", order.comment)
    _vat(doc, order.vat_total)
    goods = _add(doc, "Товары")
    for line in order.lines.all():
        product = line.product
        row = _add(goods, "Товар")
        _add(row, "Ид", product.erp_id or f"amoerp-{product.pk}")
        _add(row, "Артикул", product.article)
        _add(row, "Наименование", product.name)
        _add(row, "БазоваяЕдиница", product.unit.short_name, Код=product.unit.okei_code,
             НаименованиеПолное=product.unit.name)
        rates = _add(_add(row, "СтавкиНалогов"), "СтавкаНалога")
        _add(rates, "Наименование", "НДС")
        _add(rates, "Ставка", NO_VAT if line.vat_rate == "none" else line.vat_rate)
        props = _add(row, "ЗначенияРеквизитов")
        kind = "Услуга" if product.kind == "service" else "Товар"
        _requisite(props, "ВидНоменклатуры", kind)
        _requisite(props, "ТипНоменклатуры", kind)
        _add(row, "ЦенаЗаЕдиницу", _money(line.base_price))
        _add(row, "Количество", _plain(line.base_quantity))
        _add(row, "Сумма", _money(line.total))
        _vat(row, line.vat_amount)
        if line.discount_percent:
            discount = _add(_add(row, "Скидки"), "Скидка")
            _add(discount, "Процент", _plain(line.discount_percent))
            _add(discount, "УчтеноВСумме", "true")
    props = _add(doc, "ЗначенияРеквизитов")
    _requisite(props, "Отменен", "true" if order.status == Order.Status.CANCELLED else "false")
    if order.delivery_address:
        _requisite(props, "Адрес доставки", order.delivery_address)
    if order.lead_id:
        _requisite(props, "Сделка amoCRM", str(order.lead_id))
    return doc


def digest(element: ET.Element) -> str:
    return hashlib.sha256(ET.tostring(element, encoding="utf-8")).hexdigest()


def exportable():
    """Orders 1C should hold: past the draft and with a counterparty (1C needs one), cancelled ones included."""
    return (Order.objects.exclude(status=Order.Status.DRAFT).filter(counterparty__isnull=False)
            .select_related("counterparty").prefetch_related("lines__product__unit", "counterparty__phones",
                                                             "counterparty__emails")
            .order_by("pk"))


def query(backend: Backend, session: Session, encoding: str) -> bytes:
    """orders.xml of the orders whose document 1C has not acknowledged yet (remembered in the session)."""
    content_type = ContentType.objects.get_for_model(Order)
    acknowledged = dict(Binding.objects.filter(backend=backend, content_type=content_type)
                        .values_list("external_id", "content_hash"))
    root = ET.Element("КоммерческаяИнформация", {
        "xmlns": "urn:1C.ru:commerceml_2", "ВерсияСхемы": SCHEMA_VERSION,
        "ДатаФормирования": timezone.localtime().replace(microsecond=0, tzinfo=None).isoformat()})
    pending = {}
    for order in exportable().iterator(chunk_size=200):
        element = document(order)
        key, hashed = str(order.uuid), digest(element)
        if acknowledged.get(key) != hashed:
            root.append(element)
            pending[key] = [order.pk, hashed]
    session.update(pending_orders=pending)
    ET.indent(root)
    return ET.tostring(root, encoding=encoding, xml_declaration=True)


def acknowledge(backend: Backend, session: Session) -> int:
    """1C took the last `query`'s orders: remember their documents (the export marker moves only now)."""
    pending = session.state().get("pending_orders") or {}
    if not pending:
        return 0
    now = timezone.now()
    content_type = ContentType.objects.get_for_model(Order)
    with transaction.atomic():
        copy_rows(Binding, BINDING_COLUMNS,
                  [(backend.pk, content_type.pk, pk, key, "", None, hashed, now) for key, (pk, hashed) in pending.items()],
                  conflict=("backend_id", "content_type_id", "external_id"),
                  update=("object_id", "content_hash", "synced_at"))
    session.update(pending_orders={}, acknowledged_at=now.isoformat())
    return len(pending)
