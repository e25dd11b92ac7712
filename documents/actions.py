"""Verb-named write actions on documents and payments. Each runs in one transaction with the order row
locked; outgoing events go through the outbox in the same transaction.

Flow: request_document → `erp.document.request` (the ERP connector answers with attach_erp_document)
→ totals checked, PDF stored (rendered here when the ERP sends none) → `crm.document.attach`.
Without an ERP backend, or with a dry-run one, the document is rendered here straight away — only with
our organization's requisites known (documents.supplier); otherwise the request is recorded as failed
with the reason and MissingRequisites is raised to the caller.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integration import connectors, outbox
from orders import events as order_events
from orders.locks import lock_order
from orders.models import Order
from orders.types import Actor

from .errors import DuplicateErpId, InvalidInput, MissingRequisites, UnknownOrder
from .models import Document, Payment
from .rendering import order_line_amounts, render_pdf
from .types import PaymentInput
from .vat import LineAmounts, line_amounts, round_money, sum_amounts

if TYPE_CHECKING:
    from integration.erp.types import ErpDocumentLine

UPD_STATUSES = (1, 2)
QUOTE_VALID_DAYS = 5  # default validity of a quote (settings.AMOERP["QUOTE_VALID_DAYS"] overrides)


def order_totals(order: Order) -> LineAmounts:
    """Our totals of the order: sums of the per-line rounded amounts."""
    return sum_amounts(amounts for _, amounts in order_line_amounts(order))


def invoiced_totals(lines: Sequence[ErpDocumentLine], vat_included: bool) -> LineAmounts:
    """Our totals of an ERP document's own rows: each line rounded on its own, as for an order."""
    try:
        return sum_amounts(
            line_amounts(price=line.price, quantity=line.quantity, discount_percent=line.discount_percent,
                         vat_rate=line.vat_rate, vat_included=vat_included)
            for line in lines
        )
    except ValueError as exc:
        raise InvalidInput(str(exc), field="lines") from None


def _file_name(document: Document) -> str:
    label = re.sub(r"[^\w-]+", "-", document.number or str(document.pk)).strip("-") or str(document.pk)
    return f"{document.kind}-{label}.pdf"


def _store_pdf(document: Document, pdf: bytes) -> str:
    """Save the PDF under a fresh name; the previous file goes once the transaction commits. Returns a digest."""
    previous = document.pdf.name if document.pdf else ""
    document.pdf.save(_file_name(document), ContentFile(pdf), save=False)
    if previous and previous != document.pdf.name:
        storage = document.pdf.storage
        transaction.on_commit(lambda: storage.delete(previous))
    return hashlib.sha256(pdf).hexdigest()[:32]


def _enqueue_attach(document: Document, digest: str) -> None:
    backend = connectors.active_crm()
    if backend is None:
        return
    outbox.enqueue(
        backend=backend,
        topic="crm.document.attach",
        aggregate=document.order,
        payload={"document_id": document.pk, "order_id": document.order_id},
        idempotency_key=f"document:{document.pk}:attach:{digest}",
    )


def _after_issue(document: Document, digest: str) -> None:
    """The PDF goes to the deal; an invoice also moves the deal to its stage («Счёт выставлен»)."""
    _enqueue_attach(document, digest)
    if document.kind == Document.Kind.INVOICE:
        order_events.crm_lead_sync(document.order)


def _issue_here(document: Document) -> None:
    """Number, render and store the document ourselves (no ERP, dry run, or a quick invoice)."""
    document.number = document.number or str(document.pk)
    document.issued_on = document.issued_on or timezone.localdate()
    digest = _store_pdf(document, render_pdf(document))
    document.source = Document.Source.RENDERED
    document.status = Document.Status.ISSUED
    document.issued_at = timezone.now()
    document.save()
    _after_issue(document, digest)


def quote_valid_until(valid_until: date | None = None) -> date:
    """The date a new quote holds until: the one asked for (today or later), else today + the default days."""
    today = timezone.localdate()
    if valid_until is None:
        return today + timedelta(days=int(settings.AMOERP.get("QUOTE_VALID_DAYS", QUOTE_VALID_DAYS)))
    if not isinstance(valid_until, date):
        raise InvalidInput(_("expected a date"), field="valid_until")
    if valid_until < today:
        raise InvalidInput(_("a quote cannot hold until a date in the past"), field="valid_until")
    return valid_until


def request_quote(order: Order, *, actor: Actor, valid_until: date | None = None) -> Document:
    """A quote (КП) of the order as it stands: the client's prices, VAT, availability and the validity date,
    rendered here (the ERP keeps no quotes) and attached to the deal. Each call makes a new quote."""
    until = quote_valid_until(valid_until)
    with transaction.atomic():
        order = lock_order(order.pk)
        if not order.lines.exists():
            raise InvalidInput(_("the order has no lines"), field="order")
        totals = order_totals(order)
        document = Document.objects.create(
            order=order, kind=Document.Kind.QUOTE, total=totals.total, vat_total=totals.vat, valid_until=until,
            requested_by=actor.label[:255],
        )
        try:
            with transaction.atomic():
                _issue_here(document)
            return document
        except MissingRequisites as exc:
            failure = exc
            Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED, error=str(exc.message))
    raise failure


def request_return_document(shipment, *, actor: Actor) -> Document:
    """The return document of one return movement (the goods that came back, by quantity), rendered here and
    attached to the deal; the same movement's document is returned instead of a second one."""
    from .returns import movement_line_amounts

    if not shipment.is_return:
        raise InvalidInput(_("the movement is a shipment, not a return"), field="shipment")
    with transaction.atomic():
        order = lock_order(shipment.order_id)
        existing = Document.objects.filter(shipment=shipment, kind=Document.Kind.RETURN).exclude(
            status=Document.Status.FAILED).first()
        if existing is not None:
            return existing
        totals = sum_amounts(amounts for _, amounts in movement_line_amounts(shipment))
        document = Document.objects.create(
            order=order, kind=Document.Kind.RETURN, shipment=shipment, total=totals.total, vat_total=totals.vat,
            number=shipment.number, requested_by=actor.label[:255],
        )
        try:
            with transaction.atomic():
                _issue_here(document)
            return document
        except MissingRequisites as exc:
            failure = exc
            Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED, error=str(exc.message))
    raise failure


def request_document(order: Order, kind: str, *, actor: Actor, upd_status: int | None = None,
                     valid_until: date | None = None) -> Document:
    """Ask for a document of the order; the open request of the same kind is returned instead of a second one.
    A quote is made here at once (request_quote); `valid_until` is for quotes only."""
    if kind == Document.Kind.QUOTE:
        if upd_status is not None:
            raise InvalidInput(_("only a UPD has a status"), field="upd_status")
        return request_quote(order, actor=actor, valid_until=valid_until)
    if valid_until is not None:
        raise InvalidInput(_("only a quote has a validity date"), field="valid_until")
    if kind not in Document.Kind.values:
        raise InvalidInput(_("unknown document kind %(kind)r") % {"kind": kind}, field="kind")
    if kind == Document.Kind.UPD:
        upd_status = upd_status or 1
        if upd_status not in UPD_STATUSES:
            raise InvalidInput(_("the UPD status must be 1 or 2"), field="upd_status")
    elif upd_status is not None:
        raise InvalidInput(_("only a UPD has a status"), field="upd_status")
    with transaction.atomic():
        order = lock_order(order.pk)
        open_request = Document.objects.filter(order=order, kind=kind, status=Document.Status.REQUESTED).first()
        if open_request is not None:
            return open_request
        if not order.lines.exists():
            raise InvalidInput(_("the order has no lines"), field="order")
        totals = order_totals(order)
        document = Document.objects.create(
            order=order, kind=kind, upd_status=upd_status, total=totals.total, vat_total=totals.vat,
            requested_by=actor.label[:255],
        )
        erp = connectors.active_erp()
        if erp is not None and not erp.dry_run:
            if order.counterparty_id is None:  # the ERP gets the order (and so invoices it) only with its client
                raise InvalidInput(order.erp_pending_reason or _("The order has no counterparty yet."), field="order")
            outbox.enqueue(
                backend=erp,
                topic="erp.document.request",
                aggregate=order,
                payload={"document_id": document.pk, "order_id": order.pk, "kind": kind},
                idempotency_key=f"document:{document.pk}:request",
            )
            return document
        try:
            with transaction.atomic():
                _issue_here(document)
            return document
        except MissingRequisites as exc:
            failure = exc  # recorded below, raised once the failed request is committed
            Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED, error=str(exc.message))
    raise failure


def _money(name: str, value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput(_("expected a Decimal amount"), field=name)
    return round_money(value)


def _already_attached(document: Document, answer: dict, pdf: bytes | None) -> bool:
    if document.status != Document.Status.ISSUED:
        return False
    if any(getattr(document, field) != value for field, value in answer.items()):
        return False
    if pdf is None:
        return document.source == Document.Source.RENDERED
    if document.source != Document.Source.ERP or not document.pdf:
        return False
    with document.pdf.open("rb") as stored:
        return stored.read() == pdf


def attach_erp_document(
    document: Document,
    *,
    number: str,
    issued_on: date,
    total: Decimal,
    vat_total: Decimal,
    pdf: bytes | None,
    erp_id: str,
    lines: Sequence[ErpDocumentLine] = (),
    vat_included: bool = True,
) -> Document:
    """Store the ERP's answer: number, date, totals and PDF (rendered here when the ERP gives none).

    Our totals are checked against the ERP's; a difference is a document error (`totals_mismatch`, with the
    figures in `error`), shown in the admin and counted by the KPIs. Ours are worked out by our VAT maths on the
    document's own `lines` when the ERP gives them (the invoice is of the order as the ERP held it, even when a
    clerk edited the order a moment later), on the order's lines otherwise.
    """
    if not number:
        raise InvalidInput(_("the ERP document number is required"), field="number")
    if not isinstance(issued_on, date):
        raise InvalidInput(_("expected a date"), field="issued_on")
    erp_total, erp_vat = _money("total", total), _money("vat_total", vat_total)
    if Document.objects.filter(erp_id=erp_id).exclude(pk=document.pk).exists():
        raise DuplicateErpId(_("ERP id %(id)s belongs to another document") % {"id": erp_id}, field="erp_id")

    answer = {"number": number, "issued_on": issued_on, "erp_total": erp_total, "erp_vat_total": erp_vat,
              "erp_id": erp_id or None}
    current = Document.objects.get(pk=document.pk)
    if _already_attached(current, answer, pdf):  # a retry after a lost acknowledgement
        return current
    document.number, document.issued_on = number, issued_on
    rendered = render_pdf(document) if pdf is None else None  # outside the lock: rendering takes a while

    with transaction.atomic():
        lock_order(document.order_id)
        document = Document.objects.select_for_update().get(pk=document.pk)
        if _already_attached(document, answer, pdf):
            return document
        ours = invoiced_totals(lines, vat_included) if lines else order_totals(document.order)
        document.erp_id = erp_id or None
        document.number, document.issued_on = number, issued_on
        document.total, document.vat_total = ours.total, ours.vat
        document.erp_total, document.erp_vat_total = erp_total, erp_vat
        document.totals_mismatch = (ours.total, ours.vat) != (erp_total, erp_vat)
        document.error = (
            str(
                _("Totals differ: ours %(total)s (VAT %(vat)s), ERP %(erp_total)s (VAT %(erp_vat)s).")
                % {"total": ours.total, "vat": ours.vat, "erp_total": erp_total, "erp_vat": erp_vat}
            )
            if document.totals_mismatch
            else ""
        )
        digest = _store_pdf(document, pdf if pdf is not None else rendered)
        document.source = Document.Source.ERP if pdf is not None else Document.Source.RENDERED
        document.status = Document.Status.ISSUED
        document.issued_at = timezone.now()
        try:
            with transaction.atomic():
                document.save()
        except IntegrityError:
            raise DuplicateErpId(_("ERP id %(id)s belongs to another document") % {"id": erp_id}, field="erp_id") from None
        _after_issue(document, digest)
    return document


def fail_document(document: Document, *, error: str) -> Document:
    """The ERP refused the request for good: the document is failed (a document error for the KPIs)."""
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document.pk)
        document.status = Document.Status.FAILED
        document.error = error[:5000]
        document.save(update_fields=["status", "error"])
    return document


def record_crm_file(document: Document, *, file_uuid: str) -> Document:
    """The amoCRM connector uploaded the PDF to the deal: remember the file's uuid."""
    Document.objects.filter(pk=document.pk).update(crm_file_uuid=file_uuid[:64])
    document.crm_file_uuid = file_uuid[:64]
    return document


def render_document(document: Document) -> bytes:
    """The document's PDF rendered here from the order (nothing is stored)."""
    return render_pdf(document)


def rerender_document(document: Document) -> Document:
    """Render the PDF again, store it in place of the old one and send it to the deal again."""
    pdf = render_pdf(document)
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document.pk)
        digest = _store_pdf(document, pdf)
        document.source = Document.Source.RENDERED
        document.save(update_fields=["pdf", "source"])
        if document.status == Document.Status.ISSUED:
            _enqueue_attach(document, digest)
    return document


def _resolve_order_and_invoice(data: PaymentInput) -> tuple[Order | None, Document | None]:
    invoice = None
    if data.invoice_id is not None or data.invoice_erp_id:
        lookup = {"pk": data.invoice_id} if data.invoice_id is not None else {"erp_id": data.invoice_erp_id}
        invoice = Document.objects.filter(kind=Document.Kind.INVOICE, **lookup).first()
        if invoice is None and data.invoice_id is not None:
            raise InvalidInput(_("no such invoice"), field="invoice_id")
    order_id = data.order_id
    if order_id is None and data.order_erp_id:
        order_id = Order.objects.filter(erp_id=data.order_erp_id).values_list("pk", flat=True).first()
    elif order_id is not None and not Order.objects.filter(pk=order_id).exists():
        raise UnknownOrder(_("no such order"), field="order_id")
    if order_id is None and invoice is not None:
        order_id = invoice.order_id
    if invoice is not None and order_id is not None and invoice.order_id != order_id:
        raise InvalidInput(_("the invoice belongs to another order"), field="invoice_id")
    return (lock_order(order_id) if order_id is not None else None), invoice


def update_payment_status(order: Order) -> bool:
    """Roll the order's payments up into unpaid / partially paid / paid (call with the order row locked,
    e.g. after the ERP changed the order's total). True when the status changed."""
    paid = sum((p.amount for p in order.payments.all()), Decimal("0"))
    if paid <= 0:
        status = Order.PaymentStatus.UNPAID
    elif paid < order.total:
        status = Order.PaymentStatus.PARTIALLY_PAID
    else:
        status = Order.PaymentStatus.PAID
    if status == order.payment_status:
        return False
    order.payment_status = status
    order.save(update_fields=["payment_status", "updated_at"])
    return True


def _lock_payment(erp_id: str | None) -> Payment | None:
    return Payment.objects.select_for_update().filter(erp_id=erp_id).first() if erp_id else None


def _create_payment(data: PaymentInput, order, invoice, values: dict) -> Payment | None:
    """A new payment, or None when the same ERP payment was committed concurrently."""
    try:
        with transaction.atomic():
            return Payment.objects.create(erp_id=data.erp_id or None, order=order, invoice=invoice, **values)
    except IntegrityError:
        return None


def register_payment(data: PaymentInput) -> Payment:
    """Record an incoming payment (idempotent by ERP id), roll up the order's payment status and tell the deal."""
    amount = _money("amount", data.amount)
    if amount <= 0:
        raise InvalidInput(_("the amount must be greater than zero"), field="amount")
    if timezone.is_naive(data.paid_at):
        raise InvalidInput(_("a time zone is required"), field="paid_at")
    values = {"number": data.number[:64], "paid_at": data.paid_at, "amount": amount, "purpose": data.purpose[:1000]}
    with transaction.atomic():
        order, invoice = _resolve_order_and_invoice(data)
        payment = _lock_payment(data.erp_id)
        created = False
        if payment is None:
            payment = _create_payment(data, order, invoice, values)
            created = payment is not None
            if not created:
                payment = _lock_payment(data.erp_id)
        previous_order_id = None if created else payment.order_id
        changed = created
        if not created:
            wanted = {**values, "order_id": order.pk if order else payment.order_id,
                      "invoice_id": invoice.pk if invoice else payment.invoice_id}
            changed = any(getattr(payment, field) != value for field, value in wanted.items())
            if changed:
                for field, value in wanted.items():
                    setattr(payment, field, value)
                payment.save()
        if changed and previous_order_id and previous_order_id != payment.order_id:
            update_payment_status(lock_order(previous_order_id))
        if changed and order is not None:
            update_payment_status(order)
            order_events.crm_lead_sync(order)
    return payment
