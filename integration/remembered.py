"""What a remote answers every delivery alike (amoCRM's pipelines and files host, MoySklad's order states and our
organization), kept per process for a while instead of asked again by each delivery against the account's
request budget. Keys start with the backend's pk and base URL, so two accounts never share an answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_kept: dict[tuple, tuple[float, object]] = {}  # key → (read at, value)


def remembered(key: tuple, read: Callable[[], T], *, ttl: float, again: bool = False) -> T:
    """The value kept under `key`, read (and kept) when there is none, it is older than `ttl` s, or `again`."""
    read_at, value = _kept.get(key, (0.0, None))
    if again or value is None or time.monotonic() - read_at > ttl:
        value = read()
        _kept[key] = (time.monotonic(), value)
    return value


def forget(*prefix) -> None:
    """Drop what is kept under keys starting with `prefix` (everything without one)."""
    for key in [k for k in _kept if k[:len(prefix)] == prefix]:
        del _kept[key]
