"""The search view's orjson renderer writes the bytes DRF's JSONRenderer writes, or leaves the data to it."""

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from integration.widget.views import FastJSONRenderer

CHARS = [chr(i) for i in range(0x500)] + ["\u2028", "\u2029", "\ufeff", "\U0001f600", "ё", '"', "\\"]


def _same(data, accepted=None):
    assert FastJSONRenderer().render(data, accepted) == JSONRenderer().render(data, accepted), data


def test_random_text_and_plain_json_render_byte_for_byte_as_drf():
    rng = random.Random(5)
    for _ in range(3000):
        text = "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 12)))
        _same({"results": [{"id": rng.randint(-2**63, 2**63 - 1), "name": text, "stale": rng.random() < 0.5,
                            "price": None, text: [text, 0, -1]}], "has_next": False, "page": 1})


def test_what_orjson_would_write_otherwise_goes_the_drf_way():
    _same({"amount": Decimal("1.50"), "at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)})
    _same({"title": gettext_lazy("Too many requests"), "big": 2**70, 1: "int key"})
    _same({"name": "a\u2028b"})
    for renderer in (FastJSONRenderer(), JSONRenderer()):  # a lone surrogate: both refuse it alike
        with pytest.raises(UnicodeEncodeError):
            renderer.render({"name": "\ud800"})
    _same({"results": []}, "application/json; indent=4")
    assert FastJSONRenderer().render(None) == b""
