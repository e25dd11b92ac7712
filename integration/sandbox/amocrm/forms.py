"""PHP bracket notation, the emulator's side: query filters in, webhook form bodies out."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode


def parse_brackets(raw: str) -> dict[str, Any]:
    """`filter[id][]=1&filter[id][]=2&page=2` → {"filter": {"id": ["1", "2"]}, "page": "2"}."""
    tree: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in ("[" + rest).split("[")[1:]] if rest else [])
        node: Any = tree
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(node, list):
                if last:
                    node.append(value)
                else:
                    node.append({})
                    node = node[-1]
                continue
            if last:
                node[part] = value
                continue
            following = parts[index + 1]
            if part not in node or not isinstance(node[part], dict | list):
                node[part] = [] if following == "" else {}
            node = node[part]
    return tree


def as_list(value: Any) -> list[str]:
    """A filter value given as `x`, `x[]` or `x[0]`… as a flat list."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v != ""]
    if isinstance(value, dict):
        return [str(v) for _, v in sorted(value.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]" if prefix else str(key), item, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    elif value is None:
        out.append((prefix, ""))
    elif isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))
    else:
        out.append((prefix, str(value)))


def encode_brackets(data: dict[str, Any]) -> bytes:
    """{"leads": {"status": [{"id": 1}]}} → `leads%5Bstatus%5D%5B0%5D%5Bid%5D=1` (values always strings)."""
    pairs: list[tuple[str, str]] = []
    _flatten("", data, pairs)
    return urlencode(pairs).encode("ascii")
