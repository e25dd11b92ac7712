"""A merged duplicate whose ERP record is not archived yet: catalog syncs (full and by cursor) and the product
webhook leave it merged and inactive, and its ERP data (name, barcodes, prices) never lands on the survivor or
takes the survivor's barcodes back. Real MoySklad sandbox, the catalog sync as it runs."""

import pytest

from catalog.merge import merge_products
from catalog.models import Barcode, Product
from integration.erp.moysklad.catalog_sync import sync_catalog, upsert_product
from tests.erp.conftest import backend, ms, ms_sandbox  # noqa: F401 - fixtures

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ARTICLE = "MVA20-1-016-C"


def test_a_catalog_sync_leaves_a_merged_duplicate_merged_until_the_erp_archives_it(backend, ms):  # noqa: F811
    sync_catalog(backend, full=True)
    # A buyer creates the same breaker again in the ERP, with a barcode of its own; the sync brings it in.
    created = ms.control("moysklad/product/new", {"name": "Выключатель ВА47-29 1P C16 (дубль)",
                                                   "article": "DUP-C16", "like": ARTICLE})
    ms.control("moysklad/product", {"id": created["id"], "barcodes": ["4601234567893"]})
    assert sync_catalog(backend).failed == 0
    survivor, dup = Product.objects.get(article=ARTICLE), Product.objects.get(erp_id=created["id"])
    survivor_row = Product.objects.filter(pk=survivor.pk).values("erp_id", "name", "article", "active").get()

    merge_products(survivor, [dup], reason="один товар заведён дважды")
    assert Barcode.objects.get(value="4601234567893").product_id == survivor.pk

    # The ERP record is still there and is edited: neither a cursor sync, a full one nor its webhook revive it.
    ms.control("moysklad/product", {"id": created["id"], "name": "Выключатель C16 (дубль, правка)"})
    for run in (sync_catalog(backend), sync_catalog(backend, full=True)):
        assert run.failed == 0, run.details
        dup.refresh_from_db()
        assert (dup.active, dup.merged_into_id) == (False, survivor.pk)
        assert Product.objects.filter(pk=survivor.pk).values("erp_id", "name", "article", "active").get() == (
            survivor_row)
        assert Barcode.objects.get(value="4601234567893").product_id == survivor.pk
    upsert_product(backend, "product", created["id"])  # what the product's webhook runs
    dup.refresh_from_db()
    assert (dup.active, dup.merged_into_id) == (False, survivor.pk)

    # Archived in the ERP at last: still merged, inactive; the survivor untouched.
    ms.control("moysklad/product", {"id": created["id"], "archived": True})
    assert sync_catalog(backend).failed == 0
    dup.refresh_from_db()
    assert (dup.active, dup.merged_into_id) == (False, survivor.pk)
    assert Product.objects.get(pk=survivor.pk).active
