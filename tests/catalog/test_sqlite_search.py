"""The demo runs on SQLite, whose LIKE folds only ASCII: searching «кабель» must still find «Кабель ВВГнг»."""

import sqlite3
from types import SimpleNamespace

from catalog.sqlite_search import install_unicode_like


def _connection():
    raw = sqlite3.connect(":memory:")
    install_unicode_like(None, SimpleNamespace(vendor="sqlite", connection=raw))
    raw.execute("CREATE TABLE product (name TEXT)")
    raw.executemany("INSERT INTO product VALUES (?)", [("Кабель ВВГнг 3×2,5",), ("Автомат ABB S201",), ("100%_done",)])
    return raw


def names(raw, where: str, *params) -> list[str]:
    return [row[0] for row in raw.execute(f"SELECT name FROM product WHERE {where} ORDER BY name", params)]


def test_plain_sqlite_like_misses_cyrillic_of_another_case():
    raw = sqlite3.connect(":memory:")
    assert raw.execute("SELECT 'Кабель' LIKE '%кабель%'").fetchone()[0] == 0  # what the demo did before


def test_cyrillic_and_latin_fold_both_ways():
    raw = _connection()
    assert names(raw, r"name LIKE ? ESCAPE '\'", "%кабель%") == ["Кабель ВВГнг 3×2,5"]
    assert names(raw, r"name LIKE ? ESCAPE '\'", "%ввгНГ%") == ["Кабель ВВГнг 3×2,5"]
    assert names(raw, r"name LIKE ? ESCAPE '\'", "автомат abb%") == ["Автомат ABB S201"]
    assert names(raw, "name LIKE ?", "_втомат%") == ["Автомат ABB S201"]


def test_escaped_wildcards_match_literally():
    raw = _connection()
    assert names(raw, r"name LIKE ? ESCAPE '\'", r"100\%\_%") == ["100%_done"]
    assert names(raw, r"name LIKE ? ESCAPE '\'", r"1\%%") == []
    assert raw.execute("SELECT NULL LIKE 'x'").fetchone()[0] is None
