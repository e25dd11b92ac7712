"""SQLite folds only ASCII letters in LIKE, so on the demo's SQLite database a manager searching «кабель»
would not find «Кабель ВВГнг». This replaces SQLite's LIKE (the one Django's icontains/istartswith use) on each
new connection with a Unicode-aware one. PostgreSQL (production) is untouched: its ILIKE already folds Cyrillic."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=256)
def _pattern(like: str, escape: str | None) -> re.Pattern[str]:
    parts, i = [], 0
    while i < len(like):
        char = like[i]
        if escape and char == escape and i + 1 < len(like):
            parts.append(re.escape(like[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL | re.IGNORECASE)


def unicode_like(pattern: str | None, value: str | None, escape: str | None = None) -> bool | None:
    """SQLite's like(X, Y[, Z]): is Y matched by the LIKE pattern X (escape Z), case-folded for any script."""
    if pattern is None or value is None:
        return None
    return _pattern(pattern, escape).fullmatch(str(value)) is not None


def install_unicode_like(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: on SQLite, LIKE becomes Unicode case-insensitive."""
    if connection.vendor == "sqlite":
        raw = connection.connection
        raw.create_function("like", 2, unicode_like, deterministic=True)
        raw.create_function("like", 3, unicode_like, deterministic=True)
