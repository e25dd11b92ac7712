"""OData v3 `$filter` as 1C accepts it: eq ne gt ge lt le, and/or/not, parentheses, like(), substringof(),
startswith(), literals 'text' (inner quote doubled), guid'…', datetime'…' (no zone: 1C's wall-clock), numbers,
true/false, null. Parsed once into a predicate over a row (a dict).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Predicate = Callable[[dict], bool]

TOKEN = re.compile(
    r"\s*(?:(?P<guid>guid'[0-9a-fA-F-]{36}')|(?P<dt>datetime'[^']*')|(?P<str>'(?:[^']|'')*')"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-zА-Яа-яЁё_][\wА-Яа-яЁё/]*)|(?P<punct>[(),]))"
)
COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}


class QueryError(ValueError):
    """The query option cannot be parsed: 1C answers 400."""


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"cannot parse $filter near: {text[pos:pos + 30]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _literal(kind: str, raw: str) -> Any:
    if kind == "guid":
        return raw[5:-1].lower()
    if kind == "dt":
        try:
            return datetime.fromisoformat(raw[9:-1]).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError as exc:
            raise QueryError(f"bad datetime literal {raw}") from exc
    if kind == "str":
        return raw[1:-1].replace("''", "'")
    if kind == "num":
        return Decimal(raw)
    raise QueryError(f"not a literal: {raw}")


def comparable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            if value[:1].isdigit() and len(value) == 36 and value.count("-") == 4:
                return value.lower()
        except IndexError:
            pass
    return value


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1].lower() != value):
            raise QueryError(f"$filter: expected {value or 'a term'}, got {token[1] if token else 'the end'}")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.peek() is not None:
            raise QueryError(f"$filter: unexpected {self.peek()[1]!r}")
        return predicate

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while (token := self.peek()) and token[1].lower() == "or":
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda row: a(row) or b(row))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.not_expr()
        while (token := self.peek()) and token[1].lower() == "and":
            self.take()
            right = self.not_expr()
            left = (lambda a, b: lambda row: a(row) and b(row))(left, right)
        return left

    def not_expr(self) -> Predicate:
        token = self.peek()
        if token and token[1].lower() == "not":
            self.take()
            inner = self.not_expr()
            return lambda row: not inner(row)
        return self.comparison()

    def comparison(self) -> Predicate:
        token = self.peek()
        if token and token[1] == "(":
            self.take("(")
            inner = self.or_expr()
            self.take(")")
            return inner
        left = self.operand()
        op = self.peek()
        if op is None or op[1].lower() not in COMPARE:
            if callable(left):
                return lambda row: bool(left(row))
            raise QueryError("$filter: a comparison operator is expected")
        self.take()
        right = self.operand()
        compare = COMPARE[op[1].lower()]

        def value(side, row):
            return comparable(side(row)) if callable(side) else side

        return lambda row: compare(value(left, row), value(right, row))

    def operand(self) -> Any:
        kind, raw = self.take()
        if kind == "name":
            lowered = raw.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if lowered == "null":
                return None
            if self.peek() and self.peek()[1] == "(":
                return self.function(lowered)
            return lambda row, field=raw: row.get(field)
        if kind == "punct":
            raise QueryError(f"$filter: unexpected {raw!r}")
        try:
            return _literal(kind, raw)
        except InvalidOperation as exc:
            raise QueryError(f"bad number {raw}") from exc

    def function(self, name: str) -> Callable[[dict], Any]:
        self.take("(")
        args = [self.operand()]
        while self.peek() and self.peek()[1] == ",":
            self.take(",")
            args.append(self.operand())
        self.take(")")

        def arg(index: int, row: dict) -> str:
            item = args[index]
            value = item(row) if callable(item) else item
            return "" if value is None else str(value)

        if name == "like" and len(args) == 2:
            def like(row):
                pattern = "^" + re.escape(arg(1, row)).replace("%", ".*").replace("_", ".") + "$"
                return re.match(pattern, arg(0, row), re.IGNORECASE | re.DOTALL) is not None
            return like
        if name == "substringof" and len(args) == 2:
            return lambda row: arg(0, row).lower() in arg(1, row).lower()
        if name == "cast" and len(args) == 2:
            return lambda row: args[0](row) if callable(args[0]) else args[0]
        if name == "startswith" and len(args) == 2:
            return lambda row: arg(0, row).lower().startswith(arg(1, row).lower())
        raise QueryError(f"$filter: unknown function {name}")


def parse_filter(text: str) -> Predicate:
    if not text.strip():
        return lambda row: True
    return _Parser(tokenize(text)).parse()


EQUALITY = re.compile(r"\s*([A-Za-zА-Яа-яЁё_][\wА-Яа-яЁё]*)\s+eq\s+guid'([0-9a-fA-F-]{36})'\s*", re.IGNORECASE)


def key_equalities(text: str) -> tuple[str, set[str]] | None:
    """`F eq guid'…'` or a disjunction of such terms on one field F: (F, its keys), else None. A hint that lets
    a caller narrow rows through an index; the full predicate still decides."""
    field, keys = None, set()
    for term in re.split(r"\s+or\s+", text.strip(), flags=re.IGNORECASE):
        match = EQUALITY.fullmatch(term)
        if not match or (field is not None and match.group(1) != field):
            return None
        field = match.group(1)
        keys.add(match.group(2).lower())
    return (field, keys) if field else None


def parse_call_args(text: str) -> dict[str, str]:
    """`Period=datetime'…',Condition='…',Dimensions='…'` of a virtual table, inner quotes doubled or not."""
    args: dict[str, str] = {}
    parts = re.split(r",\s*(?=(?:Condition|Dimensions|Period|StartPeriod|EndPeriod|AccountCondition)\s*=)", text)
    for part in parts:
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise QueryError(f"bad virtual table parameter {part!r}")
        value = value.strip()
        if key.strip() in ("Condition", "Dimensions") and value.startswith("'") and value.endswith("'"):
            value = value[1:-1].replace("''", "'")
        args[key.strip()] = value
    return args
