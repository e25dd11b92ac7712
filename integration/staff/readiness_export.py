"""The offenders of the pre-launch checklist as CSV (UTF-8 with BOM, `;`, opens in Excel) or XLSX."""

from __future__ import annotations

import csv
import io

from django.utils.translation import gettext as _

from .readiness import CheckResult


def _header() -> list[str]:
    return [_("check"), _("mark"), _("record"), _("problem"), _("suggestion"), _("admin page"), _("how to fix")]


def _rows(results: list[CheckResult], base_url: str) -> list[list[str]]:
    rows = []
    for result in results:
        for offender in result.offenders:
            url = base_url + offender.url if offender.url else ""
            rows.append([result.title, offender.severity, offender.label, offender.problem, offender.suggestion, url,
                         result.fix])
    return rows


def export_csv(results: list[CheckResult], base_url: str = "") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(_header())
    writer.writerows(_rows(results, base_url))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_xlsx(results: list[CheckResult], base_url: str = "") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = _("Readiness")[:31]
    sheet.append(_header())
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in _rows(results, base_url):
        sheet.append(row)
        if row[5]:
            sheet.cell(row=sheet.max_row, column=6).hyperlink = row[5]
    for column, width in zip("ABCDEFG", (30, 8, 40, 60, 30, 50, 60), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
