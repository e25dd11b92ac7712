"""Document requests, ERP answers with the totals check, local rendering, payments and their roll-up."""

import io
import threading
from datetime import date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from pypdf import PdfReader

from catalog.models import VatRate
from documents.actions import attach_erp_document, fail_document, register_payment, request_document
from documents.errors import DuplicateErpId, InvalidInput, UnknownOrder
from documents.models import Document, Payment
from documents.types import PaymentInput
from integration.models import Backend, OutboxEvent
from orders.models import Order
from orders.types import Actor

from .factories import make_counterparty, make_order, make_our_organization

MSK = ZoneInfo("Europe/Moscow")
ACTOR = Actor(crm_user_id=77, source="widget")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def our_organization(db):
    return make_our_organization()


@pytest.fixture
def order(db):
    # 2 × 1220.00 (VAT 22: 440.00) + 1 × 550.00 (VAT 10: 50.00) = 2990.00, VAT 490.00
    return make_order(
        [("Ноутбук", "2", "1220.00", VatRate.VAT_22), ("Книга", "1", "550.00", VatRate.VAT_10)],
        counterparty=make_counterparty(), erp_id="ms-order-1", erp_number="00017",
    )


@pytest.fixture
def erp(db):
    return Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:1/api/remap/1.2")


@pytest.fixture
def amo(db):
    return Backend.objects.create(name="amo", kind=Backend.Kind.AMOCRM, base_url="http://127.0.0.1:1")


def pdf_text(document: Document) -> str:
    document.pdf.open("rb")
    try:
        reader = PdfReader(io.BytesIO(document.pdf.read()))
    finally:
        document.pdf.close()
    return " ".join(" ".join(page.extract_text() for page in reader.pages).replace("\u00a0", " ").split())


def events(topic):
    return list(OutboxEvent.objects.filter(topic=topic).order_by("id"))


def deal_told() -> int:
    """How many deal updates wait for delivery; then they are delivered, as a worker would."""
    waiting = OutboxEvent.objects.filter(topic="crm.lead.sync", status=OutboxEvent.Status.PENDING)
    count = waiting.count()
    waiting.update(status=OutboxEvent.Status.DELIVERED)
    return count


@pytest.mark.django_db
def test_request_goes_to_the_erp_once_per_open_request(order, erp, amo):
    document = request_document(order, Document.Kind.INVOICE, actor=ACTOR)
    assert document.status == Document.Status.REQUESTED
    assert (document.total, document.vat_total) == (D("2990.00"), D("490.00"))
    assert document.requested_by == "widget:amocrm-user-77"
    again = request_document(order, Document.Kind.INVOICE, actor=ACTOR)
    assert again.pk == document.pk
    [event] = events("erp.document.request")
    assert event.backend == erp
    assert event.payload == {"document_id": document.pk, "order_id": order.pk, "kind": "invoice"}
    assert (event.aggregate_type, event.aggregate_id) == ("orders.order", str(order.pk))
    assert not document.pdf and events("crm.document.attach") == []
    # another kind is another request
    upd = request_document(order, Document.Kind.UPD, actor=ACTOR, upd_status=2)
    assert upd.pk != document.pk and upd.upd_status == 2
    assert len(events("erp.document.request")) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("dry_run", [None, True])
def test_without_an_erp_or_in_dry_run_the_document_is_rendered_here(order, amo, dry_run):
    if dry_run:
        Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="http://x", dry_run=True)
    document = request_document(order, Document.Kind.INVOICE, actor=ACTOR)
    assert document.status == Document.Status.ISSUED
    assert document.source == Document.Source.RENDERED
    assert document.number == str(document.pk) and document.issued_on is not None
    text = pdf_text(document)
    assert f"Счёт на оплату № {document.pk}" in text and "2 990,00" in text
    assert "Две тысячи девятьсот девяносто рублей 00 копеек" in text
    assert events("erp.document.request") == []
    [attach] = events("crm.document.attach")
    assert attach.backend == amo and attach.payload["document_id"] == document.pk


@pytest.mark.django_db
def test_bad_requests_name_the_field(order, erp):
    with pytest.raises(InvalidInput) as error:
        request_document(order, "receipt", actor=ACTOR)
    assert error.value.field == "kind"
    with pytest.raises(InvalidInput) as error:
        request_document(order, Document.Kind.UPD, actor=ACTOR, upd_status=3)
    assert error.value.field == "upd_status"
    with pytest.raises(InvalidInput) as error:
        request_document(make_order([]), Document.Kind.INVOICE, actor=ACTOR)
    assert error.value.field == "order"
    assert not Document.objects.exists() and not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_erp_answer_with_pdf_and_matching_totals(order, erp, amo):
    document = request_document(order, Document.Kind.INVOICE, actor=ACTOR)
    pdf = b"%PDF-1.4 erp's own pdf"
    document = attach_erp_document(
        document, number="СЧ-00017", issued_on=date(2026, 11, 28), total=D("2990.00"), vat_total=D("490.00"),
        pdf=pdf, erp_id="ms-invoice-1",
    )
    document.refresh_from_db()
    assert document.status == Document.Status.ISSUED and document.source == Document.Source.ERP
    assert (document.number, document.erp_id, document.issued_on) == ("СЧ-00017", "ms-invoice-1", date(2026, 11, 28))
    assert not document.totals_mismatch and document.error == ""
    assert (document.erp_total, document.erp_vat_total) == (D("2990.00"), D("490.00"))
    with document.pdf.open("rb") as stored:
        assert stored.read() == pdf
    [attach] = events("crm.document.attach")
    assert attach.payload == {"document_id": document.pk, "order_id": order.pk}
    # the request is closed: a new request makes a new document
    assert request_document(order, Document.Kind.INVOICE, actor=ACTOR).pk != document.pk


@pytest.mark.django_db
def test_totals_mismatch_is_a_document_error(order, erp):
    document = request_document(order, Document.Kind.INVOICE, actor=ACTOR)
    document = attach_erp_document(
        document, number="СЧ-18", issued_on=date(2026, 11, 28), total=D("2990.01"), vat_total=D("490.00"),
        pdf=None, erp_id="ms-invoice-2",
    )
    document.refresh_from_db()
    assert document.totals_mismatch and document.has_error
    assert document.error == "Totals differ: ours 2990.00 (VAT 490.00), ERP 2990.01 (VAT 490.00)."
    # no PDF from the ERP: rendered here, with the ERP's number
    assert document.source == Document.Source.RENDERED
    assert "Счёт на оплату № СЧ-18 от 28 ноября 2026 г." in pdf_text(document)


@pytest.mark.django_db
def test_the_erp_totals_are_checked_on_the_documents_own_rows_when_given(order, erp):
    """The ERP invoiced the order as it held it (2 lines, not ours): our maths on those rows is what its totals
    must agree with — per line rounding and VAT, inclusive or on top."""
    from integration.erp.types import ErpDocumentLine

    rows = (ErpDocumentLine(quantity=D("3"), price=D("333.33"), discount_percent=D("0"), vat_rate="22"),
            ErpDocumentLine(quantity=D("1"), price=D("100.00"), discount_percent=D("10"), vat_rate="none"))
    agreed = attach_erp_document(
        request_document(order, Document.Kind.INVOICE, actor=ACTOR), number="СЧ-19", issued_on=date(2026, 11, 28),
        total=D("1089.99"), vat_total=D("180.33"), pdf=None, erp_id="ms-invoice-3", lines=rows,
    )
    assert not agreed.totals_mismatch and (agreed.total, agreed.vat_total) == (D("1089.99"), D("180.33"))

    on_top = attach_erp_document(
        request_document(order, Document.Kind.INVOICE, actor=ACTOR), number="СЧ-20", issued_on=date(2026, 11, 28),
        total=D("1089.99"), vat_total=D("180.33"), pdf=None, erp_id="ms-invoice-4", lines=rows, vat_included=False,
    )
    assert on_top.totals_mismatch  # 999.99 + 22 % on top is not 1089.99
    assert on_top.error == "Totals differ: ours 1309.99 (VAT 220.00), ERP 1089.99 (VAT 180.33)."


@pytest.mark.django_db
def test_erp_ids_are_unique_across_documents(order, erp):
    first = request_document(order, Document.Kind.INVOICE, actor=ACTOR)
    attach_erp_document(first, number="1", issued_on=date(2026, 11, 1), total=D("2990"), vat_total=D("490"),
                        pdf=b"%PDF", erp_id="dup")
    second = request_document(order, Document.Kind.INVOICE, actor=ACTOR)
    with pytest.raises(DuplicateErpId):
        attach_erp_document(second, number="2", issued_on=date(2026, 11, 1), total=D("2990"), vat_total=D("490"),
                            pdf=b"%PDF", erp_id="dup")
    failed = fail_document(second, error="412 organization missing")
    assert failed.status == Document.Status.FAILED and failed.has_error


@pytest.mark.django_db
def test_partial_then_full_payment_rolls_up_idempotently(order, erp, amo):
    invoice = request_document(order, Document.Kind.INVOICE, actor=ACTOR)
    attach_erp_document(invoice, number="5", issued_on=date(2026, 11, 28), total=D("2990"), vat_total=D("490"),
                        pdf=b"%PDF", erp_id="ms-inv")
    assert deal_told() == 1  # the issued invoice moves the deal to its stage
    first = PaymentInput(amount=D("1000.00"), paid_at=datetime(2026, 11, 28, 12, tzinfo=MSK), erp_id="pay-1",
                         number="101", order_erp_id="ms-order-1", invoice_erp_id="ms-inv")
    payment = register_payment(first)
    order.refresh_from_db()
    assert order.payment_status == Order.PaymentStatus.PARTIALLY_PAID
    assert (payment.order_id, payment.invoice_id) == (order.pk, invoice.pk)
    assert deal_told() == 1

    assert register_payment(first).pk == payment.pk  # the same ERP payment again: nothing changes
    assert Payment.objects.count() == 1 and deal_told() == 0

    register_payment(PaymentInput(amount=D("1990.00"), paid_at=datetime(2026, 11, 29, 9, tzinfo=MSK),
                                  erp_id="pay-2", invoice_id=invoice.pk))
    order.refresh_from_db()
    assert order.payment_status == Order.PaymentStatus.PAID
    assert deal_told() == 1

    # the ERP corrects the first payment downwards: partially paid again
    register_payment(PaymentInput(**{**first.__dict__, "amount": D("900.00")}))
    order.refresh_from_db()
    assert order.payment_status == Order.PaymentStatus.PARTIALLY_PAID
    assert Payment.objects.get(erp_id="pay-1").amount == D("900.00")
    assert deal_told() == 1


@pytest.mark.django_db
def test_unplaced_payment_is_kept_and_linked_later(order):
    paid_at = datetime(2026, 11, 28, 12, tzinfo=MSK)
    payment = register_payment(PaymentInput(amount=D("2990"), paid_at=paid_at, erp_id="p", order_erp_id="unknown"))
    assert payment.order_id is None
    payment = register_payment(PaymentInput(amount=D("2990"), paid_at=paid_at, erp_id="p", order_id=order.pk))
    assert payment.order_id == order.pk
    order.refresh_from_db()
    assert order.payment_status == Order.PaymentStatus.PAID


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"amount": D("0")}, InvalidInput, "amount"),
        ({"amount": 10.5}, InvalidInput, "amount"),
        ({"paid_at": datetime(2026, 11, 28, 12)}, InvalidInput, "paid_at"),
        ({"order_id": 987654}, UnknownOrder, "order_id"),
        ({"invoice_id": 987654}, InvalidInput, "invoice_id"),
    ],
)
def test_bad_payments_name_the_field(order, changes, error, field):
    data = {"amount": D("1"), "paid_at": datetime(2026, 11, 28, 12, tzinfo=MSK), "order_id": order.pk, **changes}
    with pytest.raises(error) as raised:
        register_payment(PaymentInput(**data))
    assert raised.value.field == field
    assert not Payment.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_make_one_document(order, erp):
    barrier = threading.Barrier(4)
    results, errors = [], []

    def request():
        try:
            barrier.wait(5)
            results.append(request_document(Order.objects.get(pk=order.pk), Document.Kind.INVOICE, actor=ACTOR).pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(set(results)) == 1 and len(results) == 4
    assert Document.objects.count() == 1 and len(events("erp.document.request")) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("pdf", [b"%PDF-1.4 from the ERP", None])
def test_a_repeated_erp_answer_changes_nothing(order, erp, amo, pdf):
    document = request_document(order, Document.Kind.INVOICE, actor=ACTOR)
    answer = {"number": "7", "issued_on": date(2026, 11, 28), "total": D("2990"), "vat_total": D("490"), "pdf": pdf,
              "erp_id": "ms-inv-7"}
    first = attach_erp_document(document, **answer)
    again = attach_erp_document(document, **answer)
    assert again.pdf.name == first.pdf.name
    assert len(events("crm.document.attach")) == 1
    # a different PDF is a new answer: stored and sent again
    changed = attach_erp_document(document, **{**answer, "pdf": b"%PDF-1.4 corrected"})
    assert changed.pdf.name != first.pdf.name and changed.source == Document.Source.ERP
    assert len(events("crm.document.attach")) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registration_of_one_erp_payment(order):
    barrier = threading.Barrier(4)
    results, errors = [], []
    data = PaymentInput(amount=D("10"), paid_at=datetime(2026, 11, 28, 12, tzinfo=MSK), erp_id="pay-race",
                        order_erp_id="not-synced-yet")

    def register():
        try:
            barrier.wait(5)
            results.append(register_payment(data).pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(results) == 4 and len(set(results)) == 1
    assert Payment.objects.count() == 1


@pytest.mark.django_db
def test_an_invoice_for_an_order_the_erp_cannot_get_yet_is_refused_with_the_reason(erp):
    """The deal's company has a wrong ИНН, so the order waits here; an invoice asked for now would wait for it
    in the queue and end as a dead letter. The manager is told at once why, and asks again once it is fixed."""
    reason = "The ERP gets the order once it has a counterparty: … INN “7720858766” has a wrong check digit."
    held = make_order([("Ноутбук", "1", "1220.00", VatRate.VAT_22)], erp_pending_reason=reason)
    with pytest.raises(InvalidInput) as refused:
        request_document(held, Document.Kind.INVOICE, actor=ACTOR)
    assert refused.value.field == "order" and "wrong check digit" in str(refused.value.message)
    assert not Document.objects.filter(order=held).exists() and not events("erp.document.request")
