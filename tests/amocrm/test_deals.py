from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile

from catalog.models import Product
from counterparties.models import Counterparty
from documents.models import Document
from integration.amocrm.attachments import attach_document
from integration.amocrm.catalog_push import push_catalog
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.deals import push_order_to_lead, push_products_to_lead, sync_lead
from integration.amocrm.mappers import values_by_code
from integration.amocrm.setup import prepare_account
from integration.bindings import binding_for
from integration.models import Binding, Conflict
from orders.models import Order
from tests.amocrm.conftest import as_manager, dump, make_shop, stats

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]
GOOD_INN, GOOD_KPP = "7707083893", "773601001"


@pytest.fixture
def shop(db):
    return make_shop()


@pytest.fixture
def amo(sandbox, backend, shop):
    # The flows are not about pacing (test_client covers it): lift the budget so the suite stays fast.
    sandbox.control("amocrm/settings", {"rate_limit": 1000})
    backend.settings.update(rate_limit=1000, rate_period=1.0)
    backend.save()
    prepare_account(backend, public_url="http://127.0.0.1:9")  # nobody listens: deliveries just fail
    push_catalog(backend)
    elements = {b.object_id: int(b.external_id) for b in Binding.objects.filter(backend=backend)}
    catalog_id = AmoCrmClient(backend).products_catalog_id()
    return SimpleNamespace(backend=backend, sandbox=sandbox, catalog_id=catalog_id,
                           element=lambda product: elements[product.pk])


def company(amo, name: str, inn: str, kpp: str = "") -> int:
    values = [{"field_code": "INN", "values": [{"value": inn}]}]
    if kpp:
        values.append({"field_code": "KPP", "values": [{"value": kpp}]})
    body = as_manager(amo.sandbox, "POST", "/api/v4/companies", [{"name": name, "custom_fields_values": values}])
    return body["_embedded"]["companies"][0]["id"]


def lead(amo, products: dict, company_id: int | None = None) -> int:
    item = {"name": "Заявка"}
    if company_id:
        item["_embedded"] = {"companies": [{"id": company_id}]}
    lead_id = as_manager(amo.sandbox, "POST", "/api/v4/leads", [item])["_embedded"]["leads"][0]["id"]
    set_products(amo, lead_id, products)
    return lead_id


def set_products(amo, lead_id: int, products: dict) -> None:
    as_manager(amo.sandbox, "POST", f"/api/v4/leads/{lead_id}/link", [
        {"to_entity_id": amo.element(p), "to_entity_type": "catalog_elements",
         "metadata": {"quantity": q, "catalog_id": amo.catalog_id}} for p, q in products.items()])


def notes(amo, lead_id: int) -> list[str]:
    return [n["params"].get("text", "") for n in dump(amo.sandbox, "notes") if n["entity_id"] == lead_id]


def test_lead_with_products_becomes_an_order_for_a_new_counterparty(amo, shop):
    company_id = company(amo, "ООО «Новый Клиент»", GOOD_INN, GOOD_KPP)
    lead_id = lead(amo, {shop.cable: 3}, company_id)
    result = sync_lead(amo.backend, lead_id)
    assert result.outcome == "applied" and result.problems == []
    order = Order.objects.get(lead_id=lead_id)
    assert [(line.product_id, line.base_quantity) for line in order.lines.all()] == [(shop.cable.pk, Decimal("3"))]
    assert order.counterparty.inn == GOOD_INN and order.counterparty.kpp == GOOD_KPP
    assert binding_for(amo.backend, order.counterparty).external_id == f"companies:{company_id}"
    assert sync_lead(amo.backend, lead_id).outcome == "skipped"  # nothing changed since


def test_a_changed_deal_of_a_known_client_does_not_read_its_company_again(amo, shop):
    """The company's own changes come by its webhook; a deal whose products changed needs only the deal."""
    from integration.models import JournalEntry

    lead_id = lead(amo, {shop.cable: 3}, company(amo, "ООО «Постоянный»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    set_products(amo, lead_id, {shop.cable: 5})
    read_before = JournalEntry.objects.filter(url__contains="/api/v4/companies/").count()
    assert sync_lead(amo.backend, lead_id).outcome == "applied"
    assert Order.objects.get(lead_id=lead_id).lines.get().base_quantity == Decimal("5")
    assert JournalEntry.objects.filter(url__contains="/api/v4/companies/").count() == read_before


def test_existing_counterparty_is_matched_never_duplicated(amo, shop):
    existing = Counterparty.objects.create(kind="legal", name="Рога и копыта", inn=GOOD_INN, kpp=GOOD_KPP)
    lead_a = lead(amo, {shop.cable: 1}, company(amo, "Рога и Копыта (дубль в amoCRM)", GOOD_INN, GOOD_KPP))
    lead_b = lead(amo, {shop.cable: 1}, company(amo, "РиК", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_a)
    sync_lead(amo.backend, lead_b)
    assert Counterparty.objects.count() == 1
    assert {Order.objects.get(lead_id=i).counterparty_id for i in (lead_a, lead_b)} == {existing.pk}


def test_invalid_requisites_are_told_to_the_manager_and_nothing_is_created(amo, shop):
    lead_id = lead(amo, {shop.cable: 1}, company(amo, "ООО «Опечатка»", "7707083894", GOOD_KPP))
    result = sync_lead(amo.backend, lead_id)
    assert Counterparty.objects.count() == 0
    assert Order.objects.get(lead_id=lead_id).counterparty is None
    [text] = notes(amo, lead_id)
    assert "7707083894" in text and "Опечатка" in text
    # A later change of the lead does not repeat the same note.
    set_products(amo, lead_id, {shop.cable: 2})
    sync_lead(amo.backend, lead_id)
    assert len(notes(amo, lead_id)) == 1
    assert result.problems


def test_shortage_is_reported_in_the_deal_not_lost(amo, shop):
    lead_id = lead(amo, {shop.lamp: 5}, company(amo, "ООО «Свет»", GOOD_INN, GOOD_KPP))
    result = sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    assert order.status == Order.Status.AWAITING_APPROVAL
    assert order.lines.get().base_quantity == 5  # the cart is kept
    [text] = notes(amo, lead_id)
    assert "LMP-1" in text and "5" in text and "2" in text
    assert result.problems


def test_unknown_catalog_element_is_reported(amo, shop):
    created = as_manager(amo.sandbox, "POST", f"/api/v4/catalogs/{amo.catalog_id}/elements", [{"name": "Чужой товар"}])
    foreign = created["_embedded"]["elements"][0]["id"]
    lead_id = lead(amo, {shop.cable: 1}, company(amo, "ООО «Ф»", GOOD_INN, GOOD_KPP))
    as_manager(amo.sandbox, "POST", f"/api/v4/leads/{lead_id}/link", [
        {"to_entity_id": foreign, "to_entity_type": "catalog_elements",
         "metadata": {"quantity": 1, "catalog_id": amo.catalog_id}}])
    result = sync_lead(amo.backend, lead_id)
    assert [line.product_id for line in Order.objects.get(lead_id=lead_id).lines.all()] == [shop.cable.pk]
    assert any(str(foreign) in p for p in result.problems)


def test_lost_lead_cancels_the_order(amo, shop):
    lead_id = lead(amo, {shop.cable: 1}, company(amo, "ООО «К»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    as_manager(amo.sandbox, "PATCH", f"/api/v4/leads/{lead_id}", {"status_id": 143})
    sync_lead(amo.backend, lead_id)
    assert Order.objects.get(lead_id=lead_id).status == Order.Status.CANCELLED


def test_order_state_goes_to_lead_fields_stage_and_one_note(amo, shop):
    lead_id = lead(amo, {shop.cable: 2}, company(amo, "ООО «Плательщик»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    Order.objects.filter(pk=order.pk).update(erp_number="ЗК-00042", payment_status=Order.PaymentStatus.PAID)
    result = push_order_to_lead(amo.backend, order.pk)
    raw = AmoCrmClient(amo.backend).get_lead(lead_id)
    values = values_by_code(raw["custom_fields_values"])
    assert values["AMOERP_NUMBER"] == ["ЗК-00042"]
    assert raw["status_id"] == 3177732 == result["status_id"]  # «Оплачен»
    assert any("ЗК-00042" in text for text in notes(amo, lead_id))
    again = push_order_to_lead(amo.backend, order.pk)
    assert again["noted"] is False and again["status_id"] is None
    # Our own write does not come back as a change.
    assert sync_lead(amo.backend, lead_id).outcome == "skipped"


def requests_made(amo, push) -> tuple[dict, int, int]:
    """What one push answered, and the API requests and writes it cost amoCRM (7 a second per account)."""
    before = stats(amo.sandbox)["counters"]
    result = push()
    after = stats(amo.sandbox)["counters"]
    return (result, after.get("api_requests", 0) - before.get("api_requests", 0),
            after.get("writes", 0) - before.get("writes", 0))


def test_a_deal_that_already_shows_the_order_is_only_read(amo, shop):
    lead_id = lead(amo, {shop.cable: 2}, company(amo, "ООО «Экономный»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    Order.objects.filter(pk=order.pk).update(erp_number="ЗК-00077")
    push_order_to_lead(amo.backend, order.pk)
    result, requests, writes = requests_made(amo, lambda: push_order_to_lead(amo.backend, order.pk))
    assert (requests, writes) == (1, 0), "the deal already says all this: one read, nothing written"
    assert result["noted"] is False and result["status_id"] is None
    assert sum("ЗК-00077" in text for text in notes(amo, lead_id)) == 1


def test_a_change_reaches_the_deal_in_four_requests_and_its_echo_is_skipped(amo, shop):
    lead_id = lead(amo, {shop.cable: 2}, company(amo, "ООО «Платёжный»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    Order.objects.filter(pk=order.pk).update(payment_status=Order.PaymentStatus.PAID)
    assert push_order_to_lead(amo.backend, order.pk)["status_id"] == 3177732  # «Оплачен»
    Order.objects.filter(pk=order.pk).update(erp_number="ЗК-00078")
    result, requests, writes = requests_made(amo, lambda: push_order_to_lead(amo.backend, order.pk))
    # The lead and its notes read; the note and the lead written. The pipelines are known from the last push.
    assert (requests, writes) == (4, 2)
    raw = AmoCrmClient(amo.backend).get_lead(lead_id)
    assert values_by_code(raw["custom_fields_values"])["AMOERP_NUMBER"] == ["ЗК-00078"]
    assert raw["status_id"] == 3177732 and result["status_id"] is None
    assert sync_lead(amo.backend, lead_id).outcome == "skipped"  # our own write is not a change from amoCRM


def test_stage_never_goes_backwards_or_out_of_won(amo, shop):
    lead_id = lead(amo, {shop.cable: 1}, company(amo, "ООО «Б»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    as_manager(amo.sandbox, "PATCH", f"/api/v4/leads/{lead_id}", {"status_id": 142})
    Order.objects.filter(pk=order.pk).update(payment_status=Order.PaymentStatus.PAID)
    assert push_order_to_lead(amo.backend, order.pk)["status_id"] is None
    assert AmoCrmClient(amo.backend).get_lead(lead_id)["status_id"] == 142


def test_erp_composition_change_rewrites_the_deal_and_records_a_conflict(amo, shop):
    lead_id = lead(amo, {shop.cable: 3}, company(amo, "ООО «Состав»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    order.lines.update(quantity=Decimal("2"), base_quantity=Decimal("2"))  # the ERP shipped only two
    result = push_products_to_lead(amo.backend, order.pk)
    assert result["changed"] is True
    raw = AmoCrmClient(amo.backend).get_lead(lead_id)
    assert [(e["id"], e["metadata"]["quantity"]) for e in raw["_embedded"]["catalog_elements"]] == [
        (amo.element(shop.cable), 2)]
    conflict = Conflict.objects.get(object_id=order.pk, field="lines")
    assert conflict.crm_value == {str(amo.element(shop.cable)): "3"}
    assert sync_lead(amo.backend, lead_id).outcome == "skipped"
    assert push_products_to_lead(amo.backend, order.pk)["changed"] is False


def test_document_is_uploaded_and_attached_once(amo, shop, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    lead_id = lead(amo, {shop.cable: 1}, company(amo, "ООО «Счёт»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    document = Document.objects.create(order=order, kind="invoice", status="issued", number="СЧ-7")
    content = b"%PDF-1.4 " + b"x" * 700_000  # two upload parts
    document.pdf.save("invoice.pdf", ContentFile(content))
    first = attach_document(amo.backend, document.pk)
    assert first["uploaded"] and first["noted"]
    again = attach_document(amo.backend, document.pk)  # a retry of the same event
    assert not again["uploaded"] and not again["noted"]
    assert stats(amo.sandbox)["files"] == 1
    [attached] = dump(amo.sandbox, "lead_files")
    assert attached == {"lead_id": lead_id, "file_uuids": [first["file_uuid"]]}
    [note] = [n for n in dump(amo.sandbox, "notes") if n["note_type"] == "attachment"]
    assert note["params"]["file_uuid"] == first["file_uuid"] and note["entity_id"] == lead_id
    assert Document.objects.get(pk=document.pk).crm_file_uuid == first["file_uuid"]
    [stored] = dump(amo.sandbox, "files")
    assert stored["size"] == len(content)
    assert Product.objects.count() == 2


def test_a_document_costs_amocrm_four_requests(amo, shop, settings, tmp_path):
    """A week's pilot ended with 142 attachments queued behind amoCRM's 7 requests a second, at 7 requests each:
    a fresh upload needs no look-up of the lead's files and notes, and the account's files host is known."""
    settings.MEDIA_ROOT = tmp_path
    lead_id = lead(amo, {shop.cable: 1}, company(amo, "ООО «Два счёта»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    spent = []
    for number in ("СЧ-8", "СЧ-9"):
        document = Document.objects.create(order=order, kind="invoice", status="issued", number=number)
        document.pdf.save("invoice.pdf", ContentFile(b"%PDF-1.4 " + b"x" * 50_000))
        client = AmoCrmClient(amo.backend)  # one per delivery, as the relay's handlers make them
        assert attach_document(amo.backend, document.pk, client=client)["noted"]
        spent.append(client.stats.requests)
    assert spent == [5, 4]  # session, part, attach, note (+ the files host, once per process)
    assert sorted(f for row in dump(amo.sandbox, "lead_files") for f in row["file_uuids"]) == sorted(
        Document.objects.filter(order=order).values_list("crm_file_uuid", flat=True))
    assert len([n for n in dump(amo.sandbox, "notes") if n["note_type"] == "attachment"]) == 2


def test_a_person_without_a_company_is_matched_by_phone(amo, shop):
    def contact(name, phone):
        body = as_manager(amo.sandbox, "POST", "/api/v4/contacts", [{"name": name, "custom_fields_values": [
            {"field_code": "PHONE", "values": [{"value": phone, "enum_code": "MOB"}]}]}])
        return body["_embedded"]["contacts"][0]["id"]

    def lead_for(contact_id):
        lead_id = as_manager(amo.sandbox, "POST", "/api/v4/leads", [{"name": "Розница", "_embedded": {
            "contacts": [{"id": contact_id, "is_main": True}]}}])["_embedded"]["leads"][0]["id"]
        set_products(amo, lead_id, {shop.cable: 1})
        return lead_id

    first = lead_for(contact("Иван Петров", "8 (916) 123-45-67"))
    second = lead_for(contact("Иван П.", "+7 916 1234567"))
    sync_lead(amo.backend, first)
    sync_lead(amo.backend, second)
    [person] = Counterparty.objects.all()
    assert person.kind == "individual" and person.phones.get().number == "+79161234567"
    assert {Order.objects.get(lead_id=i).counterparty_id for i in (first, second)} == {person.pk}


def test_company_webhook_binds_an_existing_counterparty_without_creating_one(amo, shop):
    from integration import inbox

    existing = Counterparty.objects.create(kind="legal", name="ООО «Есть в ERP»", inn=GOOD_INN, kpp=GOOD_KPP)
    company_id = company(amo, "ООО «Есть в ERP»", GOOD_INN, GOOD_KPP)
    other_id = company(amo, "ООО «Нет в ERP»", "7736207543", "773601001")
    body = (f"contacts[update][0][id]={company_id}&contacts[update][0][type]=company&contacts[update][0][last_modified]=1"
            f"&contacts[add][0][id]={other_id}&contacts[add][0][type]=company&account[id]=30441694").encode()
    inbox.store_webhook(source="amocrm", backend=amo.backend, message_id="m1", body=body,
                        content_type="application/x-www-form-urlencoded", headers={})
    assert inbox.process_inbox(source="amocrm") == {"processed": 1}
    assert binding_for(amo.backend, existing).external_id == f"companies:{company_id}"
    assert Counterparty.objects.count() == 1  # a company event alone never creates a counterparty


def test_a_stage_change_does_not_overwrite_a_cart_set_elsewhere(amo, shop):
    """The widget (or the ERP) changed the cart; the manager then only moves the deal: the cart stays."""
    from orders import actions
    from orders.types import Actor, CartLine

    lead_id = lead(amo, {shop.cable: 1}, company(amo, "ООО «Виджет»", GOOD_INN, GOOD_KPP))
    sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    actions.set_cart(order, [CartLine(product_id=shop.cable.pk, quantity=Decimal("5"))], actor=Actor(source="widget"))
    as_manager(amo.sandbox, "PATCH", f"/api/v4/leads/{lead_id}", {"status_id": 3177730})
    assert sync_lead(amo.backend, lead_id).outcome == "applied"
    assert order.lines.get().base_quantity == 5
    set_products(amo, lead_id, {shop.cable: 2})  # now the manager changes the deal's products: they win
    sync_lead(amo.backend, lead_id)
    assert order.lines.get().base_quantity == 2


def test_identical_body_after_processing_is_looked_at_again(amo, shop, client):
    """Two changes within one second give byte-identical webhooks: the second is not lost."""
    from integration import inbox

    amo.backend.settings["webhook_secret"] = "same-second"
    amo.backend.save()
    lead_id = lead(amo, {shop.cable: 1}, company(amo, "ООО «Секунда»", GOOD_INN, GOOD_KPP))
    body = f"leads[update][0][id]={lead_id}&leads[update][0][last_modified]=1700000000&account[id]=30441694"

    def post():
        return client.post("/hooks/amocrm/same-second/", data=body, content_type="application/x-www-form-urlencoded")

    assert post().status_code == 200
    inbox.process_inbox(source="amocrm")
    order = Order.objects.get(lead_id=lead_id)
    assert order.lines.get().base_quantity == 1
    set_products(amo, lead_id, {shop.cable: 3})
    assert post().status_code == 200  # the very same bytes
    assert inbox.process_inbox(source="amocrm") == {"processed": 1}
    assert order.lines.get().base_quantity == 3


def test_with_several_warehouses_a_deals_products_become_lines_with_a_warehouse(amo, shop):
    from tests.catalog import factories as cf

    north = cf.warehouse("Северный")
    cf.stock(shop.cable, north, on_hand="40")  # more than the main store's 10
    lead_id = lead(amo, {shop.cable: 3}, company(amo, "ООО «Два склада»", "7707083894", GOOD_KPP))  # bad ИНН
    result = sync_lead(amo.backend, lead_id)
    order = Order.objects.get(lead_id=lead_id)
    line = order.lines.get()
    assert (line.base_quantity, line.warehouse_id, line.warehouse_rule) == (3, north.pk, "stock")
    assert order.warehouse_id == north.pk and order.status == Order.Status.RESERVE_PENDING
    assert "7707083894" in order.erp_pending_reason  # why it waits: the company's requisites
    assert not any("warehouse" in p.lower() for p in result.problems)
    set_products(amo, lead_id, {shop.cable: 2, shop.lamp: 1})  # a change in the deal: kept, and the order's
    sync_lead(amo.backend, lead_id)
    rules = {ln.product_id: (ln.base_quantity, ln.warehouse_id, ln.warehouse_rule) for ln in order.lines.all()}
    assert rules == {shop.cable.pk: (2, north.pk, "kept"), shop.lamp.pk: (1, north.pk, "order")}
