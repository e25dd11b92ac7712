"""amoCRM webhooks: x-www-form-urlencoded bodies with PHP bracket keys (`leads[status][0][id]=1`).

amoCRM does not sign them: the URL carries a secret, the body is only a hint of what changed, and the handler
re-reads the entities through the API before acting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl


class WebhookParseError(ValueError):
    """The body is not a bracket form amoCRM would send."""


# amoCRM's deepest key is about 7 levels (leads[status][0][custom_fields][0][values][0][value]) and a batch of
# events carries hundreds of fields; these bounds keep hostile bodies cheap to refuse.
MAX_DEPTH = 16
MAX_FIELDS = 20_000
MAX_ID_DIGITS = 18
MAX_INDEX_DIGITS = 9


def _to_lists(node: Any) -> Any:
    """Dicts whose keys are exactly 0..n-1 become lists (PHP arrays), recursively (depth ≤ MAX_DEPTH)."""
    if isinstance(node, dict):
        converted = {k: _to_lists(v) for k, v in node.items()}
        if converted and all(_is_index(k) for k in converted):
            indices = sorted(int(k) for k in converted)
            if indices == list(range(len(indices))):
                return [converted[str(i)] for i in indices]
        return converted
    return node


def _is_index(key: str) -> bool:
    """`0`, `1`, `12` are PHP array indices; `00`, `01`, `²` are keys."""
    return key.isascii() and key.isdigit() and (key == "0" or not key.startswith("0"))


def _decode(body: bytes | str) -> str:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebhookParseError(f"not UTF-8 (byte {exc.start})") from exc
    if not body:
        raise WebhookParseError("empty")
    return body


def parse_bracket_body(body: bytes | str) -> dict[str, Any]:
    """`a[b][0][c]=1&a[b][0][d][]=x` → {"a": {"b": [{"c": "1", "d": ["x"]}]}}; values stay strings.

    Raises WebhookParseError for anything amoCRM would not send: not UTF-8, empty, a NUL character, more than
    MAX_FIELDS fields, keys deeper than MAX_DEPTH, malformed or clashing keys.
    """
    text = _decode(body)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise WebhookParseError(f"not a form body: {exc}") from exc
    tree: dict[str, Any] = {}
    next_index: dict[int, int] = {}  # id(node) → the index `x[]=…` appends at (PHP: highest integer key + 1)
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise WebhookParseError(f"a NUL character in field {key[:100]!r}")
        head, bracket, rest = key.partition("[")
        if not head or (bracket and not rest.endswith("]")):
            raise WebhookParseError(f"bad key {key[:100]!r}")
        parts = [head] + (rest[:-1].split("][") if bracket else [])
        if len(parts) > MAX_DEPTH:
            raise WebhookParseError(f"key {key[:100]!r} is nested deeper than {MAX_DEPTH} levels")
        node = tree
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "":  # `x[]=…` appends
                part = str(next_index.get(id(node), 0))
            if part.isascii() and part.isdigit():
                if len(part) > MAX_INDEX_DIGITS:
                    raise WebhookParseError(f"key {key[:100]!r}: index {part[:20]}… is too large")
                next_index[id(node)] = max(next_index.get(id(node), 0), int(part) + 1)
            if last:
                if isinstance(node.get(part), dict):
                    raise WebhookParseError(f"key {key[:100]!r} clashes with a nested key")
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise WebhookParseError(f"key {key[:100]!r} clashes with a scalar")
                node = child
    return {key: _to_lists(value) for key, value in tree.items()}  # the top level stays keyed, digits or not


def entity_id(raw: Any) -> int | None:
    """An amoCRM id: ASCII digits that fit a bigint, else None (`²`, `-1`, 5000 digits are not ids)."""
    text = str(raw or "")
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
        return int(text)
    return None


@dataclass(frozen=True)
class WebhookEvent:
    entity: str  # leads | contacts | companies | task | catalogs | …
    action: str  # add | update | status | delete | responsible | note | restore
    id: int | None
    modified: str  # last_modified / updated_at as sent
    data: dict[str, Any]


def webhook_events(parsed: dict[str, Any]) -> list[WebhookEvent]:
    """Flatten a parsed body into events; contacts with `type=company` become companies."""
    events = []
    for section, actions in parsed.items():
        if section == "account" or not isinstance(actions, dict):
            continue
        for action, items in actions.items():
            for item in items if isinstance(items, list) else [items]:
                if not isinstance(item, dict):
                    continue
                data = item.get("note", item) if action == "note" and isinstance(item.get("note"), dict) else item
                entity = section
                if section == "contacts" and data.get("type") == "company":
                    entity = "companies"
                raw_id = data.get("element_id") if action == "note" else data.get("id")
                events.append(WebhookEvent(
                    entity=entity, action=action, id=entity_id(raw_id),
                    modified=str(data.get("last_modified") or data.get("updated_at") or ""), data=data))
    return events


def dedup_key(events: list[WebhookEvent], body: bytes) -> str:
    """entity+action+id+last_modified of every event, plus a short hash of the body.

    A retry repeats the body exactly, so it is recognised; two changes of one lead within the same second
    (amoCRM timestamps are whole seconds) differ in content and are both kept.
    """
    digest = hashlib.sha256(body).hexdigest()
    keys = sorted(f"{e.entity}:{e.action}:{e.id}:{e.modified}" for e in events)
    if not keys:
        return "body:" + digest
    joined = "|".join(keys)
    if len(joined) > 180:
        joined = "sha256:" + hashlib.sha256(joined.encode()).hexdigest()
    return f"{joined}#{digest[:16]}"
