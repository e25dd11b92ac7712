"""The managers' guide (docs/manager-guide.md) as a public, read-only page, linked from the widget's settings:
managers have no admin login. Rendered with markdown-it-py (CommonMark, tables; raw HTML in the source is
escaped), once per version of the file."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe
from markdown_it import MarkdownIt

GUIDE = Path(settings.BASE_DIR) / "docs" / "manager-guide.md"


@dataclass(frozen=True)
class Guide:
    title: str
    html: SafeString


@lru_cache(maxsize=2)
def _render(path: Path, mtime_ns: int) -> Guide:
    source = path.read_text(encoding="utf-8")
    markdown = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
    title = next((line[2:].strip() for line in source.splitlines() if line.startswith("# ")), "")
    return Guide(title=title, html=mark_safe(markdown.render(source)))  # noqa: S308 - escaped by markdown-it


def load_guide(path: Path = GUIDE) -> Guide:
    try:
        return _render(path, path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise Http404("the managers' guide is not installed") from None


@require_safe
def manager_guide(request):
    return render(request, "guide/managers.html", {"guide": load_guide()})
