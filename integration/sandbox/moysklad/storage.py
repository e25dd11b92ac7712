"""In-memory storage helpers of the MoySklad emulator: ids, Moscow-time stamps, filters, references."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

API_PREFIX = "/api/remap/1.2"
MSK = ZoneInfo("Europe/Moscow")
ACCOUNT_ID = "1f2e3d4c-0000-4000-8000-00000000acc1"
_NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")

_last_stamp: list[datetime] = [datetime(2000, 1, 1, tzinfo=MSK)]


def new_id(seed: str | None = None) -> str:
    """A MoySklad-style UUID; deterministic when a seed string is given."""
    return str(uuid.uuid5(_NS, seed) if seed is not None else uuid.uuid4())


def now_msk() -> datetime:
    """Strictly increasing Moscow time with millisecond steps, so `updated` cursors never tie."""
    now = datetime.now(MSK).replace(microsecond=datetime.now(MSK).microsecond // 1000 * 1000)
    if now <= _last_stamp[0]:
        now = _last_stamp[0] + timedelta(milliseconds=1)
    _last_stamp[0] = now
    return now


def stamp(moment: datetime | None = None) -> str:
    """`YYYY-MM-DD HH:MM:SS.mmm` in Moscow time, as MoySklad writes `updated`."""
    moment = (moment or now_msk()).astimezone(MSK)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def parse_moment(value: str) -> datetime:
    """Parse `YYYY-MM-DD HH:MM:SS[.mmm]` as Moscow time; ValueError on anything else."""
    value = value.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=MSK)
        except ValueError:
            continue
    raise ValueError(f"bad date-time {value!r}")


def ref_id(value: Any) -> str | None:
    """The id out of a `{"meta": {"href": …}}` reference, an href string, or a bare id."""
    if isinstance(value, dict):
        value = (value.get("meta") or {}).get("href") or value.get("id")
    if not isinstance(value, str) or not value:
        return None
    return value.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def ref_type(value: Any) -> str | None:
    if isinstance(value, dict):
        return (value.get("meta") or {}).get("type")
    return None


_TERM = re.compile(r"^([^=<>!~]+?)(>=|<=|!=|=~|~=|~|=|>|<)(.*)$")


def parse_filter(raw: str | None) -> list[tuple[str, str, str]]:
    """`a=1;b>=2` → [(key, op, value)]; raises ValueError naming a malformed term."""
    terms = []
    for part in (raw or "").split(";"):
        if not part.strip():
            continue
        match = _TERM.match(part)
        if not match:
            raise ValueError(f"malformed filter term {part!r}")
        key, op, value = match.groups()
        terms.append((key.strip(), op, value))
    return terms


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _matches(actual: Any, op: str, expected: str) -> bool:
    if isinstance(expected, str) and expected.startswith("http"):
        expected = ref_id(expected) or expected
    actual = _comparable(actual)
    if op == "~":
        return expected.lower() in str(actual or "").lower()
    if op == "=~":
        return str(actual or "").lower().startswith(expected.lower())
    if op == "~=":
        return str(actual or "").lower().endswith(expected.lower())
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        try:
            number = float(expected)
        except ValueError:
            return False
        left: Any = actual
        right: Any = number
    else:
        left, right = ("" if actual is None else str(actual)), expected
    return {
        "=": left == right,
        "!=": left != right,
        ">": left > right,
        "<": left < right,
        ">=": left >= right,
        "<=": left <= right,
    }[op]


def apply_filter(records: list[dict], terms: list[tuple[str, str, str]]) -> list[dict]:
    """Repeated `=` on the same key is OR; everything else is AND (MoySklad's rules)."""
    equals: dict[str, list[str]] = {}
    others: list[tuple[str, str, str]] = []
    for key, op, value in terms:
        if op == "=":
            equals.setdefault(key, []).append(value)
        else:
            others.append((key, op, value))
    if not equals and not others:
        return records
    out = []
    for record in records:
        if all(any(_matches(record.get(k), "=", v) for v in values) for k, values in equals.items()) and all(
            _matches(record.get(k), op, v) for k, op, v in others
        ):
            out.append(record)
    return out
