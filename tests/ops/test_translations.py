"""Every user-facing string has a Russian translation, and words that mean different things in different
places («reserved» of an order vs. of stock) are told apart by their context."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import trans_real
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("catalog", "counterparties", "orders", "documents", "integration", "config", "templates")
SKIPPED_DIRS = {"migrations", "sandbox", "__pycache__"}  # the sandboxes are development tools, not the product
KEYWORDS = ["_", "gettext", "gettext_lazy", "gettext_noop", "ngettext:1,2", "ngettext_lazy:1,2", "pgettext:1c,2",
            "pgettext_lazy:1c,2", "npgettext:1c,2,3", "npgettext_lazy:1c,2,3"]


def _sources(workdir: Path) -> list[Path]:
    """The product's Python files and its templates, each template turned into Python as makemessages does."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if SKIPPED_DIRS & set(path.relative_to(ROOT).parts) or not path.is_file():
                continue
            if path.suffix == ".py":
                found.append(path)
            elif path.suffix in (".html", ".txt"):
                text = path.read_text(encoding="utf-8")
                if "{%" in text or "{{" in text:
                    target = workdir / (str(path.relative_to(ROOT)).replace("/", "__") + ".py")
                    target.write_text(templatize(text, origin=str(path)), encoding="utf-8")
                    found.append(target)
    return found


def _msgids(files: list[Path]) -> list[tuple[str, str | None, str, bool]]:
    """(where, context, msgid, has plural) of every marked string, by one xgettext run."""
    command = ["xgettext", "-L", "Python", "--from-code=UTF-8", "-o", "-", "--no-wrap",
               *(f"--keyword={k}" for k in KEYWORDS), *map(str, files)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    entries = []
    for block in re.split(r"\n\n+", output):
        msgid = re.search(r'^msgid "(.*)"$', block, re.M)
        if not msgid or not msgid.group(1):
            continue
        context = re.search(r'^msgctxt "(.*)"$', block, re.M)
        where = re.search(r"^#: (\S+)", block, re.M)
        decode = lambda s: s.encode().decode("unicode_escape").encode("latin-1").decode("utf-8")  # noqa: E731
        entries.append((where.group(1) if where else "?", decode(context.group(1)) if context else None,
                        decode(msgid.group(1)), "msgid_plural" in block))
    return entries


def test_every_user_facing_string_has_a_russian_translation():
    if shutil.which("xgettext") is None:
        pytest.fail("xgettext is missing (Debian package gettext; makemessages needs it too)")
    catalog = trans_real.translation("ru")._catalog
    with tempfile.TemporaryDirectory() as workdir:
        entries = _msgids(_sources(Path(workdir)))
    assert len(entries) > 500, "the extraction found too little: is xgettext working?"
    missing = []
    for where, context, msgid, plural in entries:
        key = f"{context}\x04{msgid}" if context else msgid
        if (key, 0) not in catalog if plural else key not in catalog:
            missing.append(f"{where}: {context + ' | ' if context else ''}{msgid}")
    assert not missing, "no Russian translation (append them to the app's locale/ru/LC_MESSAGES/django.po):\n" + \
        "\n".join(sorted(set(missing)))


def test_reserved_means_an_order_status_or_a_stock_quantity_depending_on_the_place():
    from catalog.models import StockLevel
    from orders.models import Order

    with translation.override("ru"):
        assert str(Order.Status.RESERVED.label) == "зарезервирован"
        assert str(StockLevel._meta.get_field("reserved").verbose_name) == "в резерве"
