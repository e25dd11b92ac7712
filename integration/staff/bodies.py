"""Long exchange bodies in the admin: JSON pretty-printed, everything in a collapsible block (open when short)."""

from __future__ import annotations

import json

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

OPEN_BELOW = 20  # lines: a short body is shown open


def pretty_body(text: str) -> str:
    """JSON re-indented (keys in their order, Cyrillic as is); anything else (XML, a truncated body) unchanged."""
    stripped = (text or "").strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(stripped), ensure_ascii=False, indent=2)
        except ValueError:
            pass
    return text or ""


def body_block(text: str) -> SafeString:
    if not text:
        return format_html("{}", "—")
    pretty = pretty_body(text)
    lines = pretty.count("\n") + 1
    summary = _("%(lines)s lines, %(chars)s characters") % {"lines": lines, "chars": len(text)}
    return format_html(
        '<details class="staff-body"{}><summary>{}</summary><pre class="staff-body-text">{}</pre></details>',
        " open" if lines < OPEN_BELOW else "", summary, pretty,
    )
