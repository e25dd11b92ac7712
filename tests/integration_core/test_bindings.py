"""Bindings: bind/lookup both ways, stale or unchanged records skipped, echo suppression."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.models import PriceList
from integration.bindings import (
    bind,
    binding_for,
    compute_hash,
    external_id_for,
    importing,
    is_importing,
    is_stale_or_unchanged,
    lookup,
)
from integration.models import Binding

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_bind_and_lookup_both_ways(backend):
    a = PriceList.objects.create(name="A", code="a")
    b = PriceList.objects.create(name="B", code="b")
    bind(backend, a, "ext-1", remote_version="3", content_hash="h")
    assert lookup(backend, PriceList, "ext-1") == a
    assert external_id_for(backend, a) == "ext-1"
    assert lookup(backend, PriceList, "missing") is None
    bind(backend, a, "ext-1", remote_version="4")  # update in place
    assert Binding.objects.get().remote_version == "4"
    bind(backend, b, "ext-1")  # the remote record was re-linked to another row
    assert lookup(backend, PriceList, "ext-1") == b
    assert binding_for(backend, a) is None and Binding.objects.count() == 1


def test_stale_and_unchanged_records_are_skipped(backend):
    company = PriceList.objects.create(name="A", code="a")
    data = {"name": "A", "price": Decimal("1.50")}
    stamp = datetime(2026, 11, 1, 12, tzinfo=UTC)
    binding = bind(backend, company, "ext", remote_updated_at=stamp, content_hash=compute_hash(data))
    assert compute_hash({"price": Decimal("1.50"), "name": "A"}) == binding.content_hash  # key order irrelevant
    assert is_stale_or_unchanged(binding, stamp, compute_hash(data))  # unchanged
    assert is_stale_or_unchanged(binding, datetime(2026, 10, 1, tzinfo=UTC), compute_hash({"name": "B"}))  # older
    assert not is_stale_or_unchanged(binding, datetime(2026, 11, 2, tzinfo=UTC), compute_hash({"name": "B"}))
    assert not is_stale_or_unchanged(None, stamp, "h")


def test_importing_is_a_nestable_context_flag():
    assert not is_importing()
    with importing():
        with importing():
            assert is_importing()
        assert is_importing()
    assert not is_importing()
