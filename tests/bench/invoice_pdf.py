"""Benchmark: render a 500-line invoice to PDF here (weasyprint), as when the ERP gives no PDF.

Besides `seconds` (the whole `render_pdf`), the line splits it: `html_seconds` is ours (the order's lines in one
query, amounts, QR code, amount in words, the template), and `floor_seconds` is weasyprint alone laying out the
same cells' texts in a bare table (no styles, same font) in the same run — the floor any template of this invoice
stands on; `ratio` = seconds / floor_seconds."""

import io
import logging
import time

from django.db import transaction
from django.utils.html import escape

LINES = 500


def bare_table(html_lines) -> str:
    """The lines' cells in an unstyled table: what weasyprint must lay out whatever the template."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in (
            str(line.number), f"{line.name} ({line.article})", line.quantity, line.unit, line.price, line.vat_rate,
            line.total)) + "</tr>"
        for line in html_lines
    )
    return ("<!DOCTYPE html><html lang='ru'><head><meta charset='utf-8'><style>body{font-family:'DejaVu Sans';"
            f"font-size:8.5pt}}</style></head><body><table>{rows}</table></body></html>")


def run() -> list[dict]:
    from pypdf import PdfReader
    from weasyprint import HTML

    from catalog.models import VatRate
    from documents.models import Document
    from documents.rendering import build_context, render_html, render_pdf
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
        started = time.perf_counter()
        render_html(document)
        html_seconds = time.perf_counter() - started
        floor = bare_table(build_context(document)["lines"])
        started = time.perf_counter()
        HTML(string=floor).write_pdf()
        floor_seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    return [{"bench": "invoice_pdf", "lines": LINES, "seconds": round(seconds, 3), "pages": pages, "bytes": len(pdf),
             "html_seconds": round(html_seconds, 3), "floor_seconds": round(floor_seconds, 3),
             "ratio": round(seconds / floor_seconds, 2)}]
