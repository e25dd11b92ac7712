"""The runbook page renders RUNBOOK.md (Russian) or RUNBOOK.en.md with a small Markdown subset:
headings, paragraphs, bullet and numbered lists (with indented continuation lines), **bold** and `code`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

HERE = Path(__file__).resolve().parent
SOURCES = {"ru": HERE / "RUNBOOK.md", "en": HERE / "RUNBOOK.en.md"}

_LIST_ITEM = re.compile(r"^(?P<marker>- |\d+\. )(?P<text>.*)$")
_HEADING = re.compile(r"^(?P<level>#{1,3}) (?P<text>.+)$")


@dataclass(frozen=True)
class Runbook:
    title: str
    sections: list[tuple[str, str]]  # (anchor, title) of each second-level heading
    html: SafeString


def _inline(text: str) -> str:
    out = escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def render_markdown(source: str) -> Runbook:
    html: list[str] = []
    sections: list[tuple[str, str]] = []
    title = ""
    paragraph: list[str] = []
    items: list[list[str]] = []
    list_tag = ""

    def flush() -> None:
        nonlocal list_tag
        if paragraph:
            html.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            body = "".join(f"<li>{_inline(' '.join(item))}</li>" for item in items)
            html.append(f"<{list_tag}>{body}</{list_tag}>")
            items.clear()
            list_tag = ""

    for raw in source.splitlines():
        line = raw.rstrip()
        heading = _HEADING.match(line)
        item = _LIST_ITEM.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level, text = len(heading["level"]), heading["text"].strip()
            anchor = slugify(text, allow_unicode=True)
            if level == 1:
                title = text
                continue
            if level == 2:
                sections.append((anchor, text))
            html.append(f'<h{level} id="{anchor}">{_inline(text)}</h{level}>')
        elif item:
            tag = "ul" if item["marker"] == "- " else "ol"
            if paragraph or (items and tag != list_tag):
                flush()
            list_tag = tag
            items.append([item["text"].strip()])
        elif items and raw.startswith("  "):
            items[-1].append(line.strip())
        else:
            if items:
                flush()
            paragraph.append(line.strip())
    flush()
    return Runbook(title=title, sections=sections, html=mark_safe("\n".join(html)))


@cache
def load_runbook(language: str) -> Runbook:
    """The runbook in `language` ("ru" or "en"; other languages get the English text)."""
    code = (language or "ru").split("-")[0]
    path = SOURCES.get(code, SOURCES["en"])
    return render_markdown(path.read_text(encoding="utf-8"))
