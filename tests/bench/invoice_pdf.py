"""Benchmark: render a 500-line invoice to PDF here (weasyprint), as when the ERP gives no PDF."""

import io
import logging
import time

from django.db import transaction

LINES = 500


def run() -> list[dict]:
    from pypdf import PdfReader

    from catalog.models import VatRate
    from documents.models import Document
    from documents.rendering import render_pdf
    from tests.documents.factories import make_counterparty, make_order, make_our_organization

    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # one INFO line per page otherwise
    with transaction.atomic():
        make_our_organization()
        rates = [VatRate.VAT_22, VatRate.VAT_10, VatRate.NONE, VatRate.VAT_5, VatRate.VAT_7]
        order = make_order(
            [(f"Товар для замера № {n}", str(n % 7 + 1), f"{n}.99", rates[n % len(rates)]) for n in range(1, LINES + 1)],
            counterparty=make_counterparty(inn="7707083893", kpp="773601002"),
        )
        document = Document(order=order, kind=Document.Kind.INVOICE, number="BENCH-500")
        render_pdf(Document(order=order, kind=Document.Kind.INVOICE, number="warm-up"))  # fonts, imports, caches
        started = time.perf_counter()
        pdf = render_pdf(document)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    return [{"bench": "invoice_pdf", "lines": LINES, "seconds": round(seconds, 3), "pages": pages, "bytes": len(pdf)}]
