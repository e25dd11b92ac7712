from decimal import Decimal

import pytest

from catalog.models import Barcode, Price, PriceList, Product
from integration.amocrm.catalog_push import push_catalog
from integration.amocrm.mappers import values_by_code
from integration.models import Binding
from tests.amocrm.conftest import dump, stats
from tests.catalog import factories as f

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


@pytest.fixture
def assortment(db):
    retail = PriceList.objects.create(name="Розница", code="retail", is_default=True)
    wholesale = PriceList.objects.create(name="Опт", code="wholesale")
    store = f.warehouse("Основной")
    products = []
    for i in range(3):
        product = f.product(f"CAB-{i}", name=f"Кабель ВВГ {i}")
        product.erp_id = f"erp-{i}"
        product.save()
        Price.objects.create(product=product, price_list=retail, amount=Decimal("100.50") + i)
        Price.objects.create(product=product, price_list=wholesale, amount=Decimal("90") + i)
        f.stock(product, store, on_hand="10", reserved="3", expected="1")
        products.append(product)
    f.pack(products[0], "100")
    Barcode.objects.create(product=products[0], value="4600000000011")
    return products


def by_sku(sandbox) -> dict[str, dict]:
    return {values_by_code(e["custom_fields_values"])["SKU"][0]: e for e in dump(sandbox, "elements")}


def test_push_creates_elements_with_prices_stock_and_external_id(sandbox, backend, assortment):
    run = push_catalog(backend)
    assert (run.status, run.created, run.failed) == ("succeeded", 3, 0)
    elements = by_sku(sandbox)
    assert set(elements) == {"CAB-0", "CAB-1", "CAB-2"}
    values = values_by_code(elements["CAB-0"]["custom_fields_values"])
    assert values["EXTERNAL_ID"] == ["erp-0"]
    assert values["PRICE"] == ["100.5"]  # the default price list
    assert values["AMOERP_STOCK"] == ["8"]  # 10 on hand − 3 reserved + 1 expected
    assert values["AMOERP_VAT"] == ["22%"]
    assert values["AMOERP_BARCODE"] == ["4600000000011"]
    assert values["AMOERP_PACKS"] == ["упак = 100"]
    prices = {k: v for k, v in values.items() if k.startswith("AMOERP_PRICE_")}
    assert sorted(prices.values()) == [["100.5"], ["90"]]
    bound = Binding.objects.filter(backend=backend).values_list("object_id", "external_id")
    assert {str(e["id"]) for e in elements.values()} == {ext for _, ext in bound}


def test_second_push_sends_only_changed_elements(sandbox, backend, assortment):
    push_catalog(backend)
    writes = stats(sandbox)["counters"]["writes"]
    run = push_catalog(backend)
    assert (run.created, run.updated, run.unchanged) == (0, 0, 3)
    assert stats(sandbox)["counters"]["writes"] == writes  # nothing was sent
    Price.objects.filter(product=assortment[1], price_list__code="retail").update(amount=Decimal("200"))
    run = push_catalog(backend)
    assert (run.created, run.updated, run.unchanged) == (0, 1, 2)
    assert values_by_code(by_sku(sandbox)["CAB-1"]["custom_fields_values"])["PRICE"] == ["200"]
    assert stats(sandbox)["elements"] == 3
    assert push_catalog(backend).unchanged == 3  # the update's hash was stored on the binding


def test_lost_answer_is_reconciled_without_duplicates(sandbox, backend, assortment):
    sandbox.set_faults(drop_responses=1, path_regex="/elements$")
    run = push_catalog(backend)
    assert run.created == 3
    assert stats(sandbox)["dropped"] == 1
    assert stats(sandbox)["elements"] == 3  # the batch was applied once, then found by EXTERNAL_ID
    assert Binding.objects.filter(backend=backend).count() == 3
    run = push_catalog(backend)
    assert run.unchanged == 3


def test_rejected_product_is_reported_and_the_others_pushed(sandbox, backend, assortment):
    Product.objects.filter(pk=assortment[2].pk).update(name="  ")
    run = push_catalog(backend)
    assert (run.created, run.failed) == (2, 1)
    assert run.details["rejected"][str(assortment[2].pk)][0]["path"] == "name"
    assert set(by_sku(sandbox)) == {"CAB-0", "CAB-1"}


def test_scope_chosen_and_active(sandbox, backend, assortment):
    backend.settings.update(catalog_scope="chosen", catalog_products=["CAB-2"])
    backend.save()
    push_catalog(backend)
    assert set(by_sku(sandbox)) == {"CAB-2"}
    backend.settings.update(catalog_scope="active")
    backend.save()
    Product.objects.filter(pk=assortment[0].pk).update(active=False)
    run = push_catalog(backend)
    assert (run.created, run.unchanged) == (1, 1)
    assert set(by_sku(sandbox)) == {"CAB-1", "CAB-2"}


def test_dry_run_sends_nothing(sandbox, backend, assortment):
    run = push_catalog(backend, dry_run=True)
    assert run.created == 3 and stats(sandbox)["elements"] == 0


@pytest.mark.django_db(transaction=True)
def test_push_in_small_batches_reconciles_a_lost_answer_in_the_middle(sandbox):
    """Committed data as in production (no test transaction): a lost answer in the middle of a run is
    reconciled by EXTERNAL_ID, nothing is created twice, and the next run finds nothing to send."""
    from tests.amocrm.conftest import connect_backend

    backend = connect_backend(sandbox, catalog_batch_size=2, catalog_scope="all")
    store = f.warehouse("Склад")
    for i in range(7):
        f.stock(f.product(f"P-{i}"), store, on_hand=str(i))
    sandbox.set_faults(drop_responses=1, path_regex="/elements$")
    run = push_catalog(backend)
    assert (run.status, run.created) == ("succeeded", 7)
    assert stats(sandbox)["elements"] == 7 and stats(sandbox)["dropped"] == 1
    assert Binding.objects.filter(backend=backend).count() == 7
    assert push_catalog(backend).unchanged == 7


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_run_is_recovered_without_duplicates(sandbox):
    """A run died after amoCRM created elements but before they were bound: the next run finds them by
    EXTERNAL_ID instead of creating them again."""
    from integration.models import SyncRun
    from tests.amocrm.conftest import connect_backend

    backend = connect_backend(sandbox, catalog_scope="all")
    for i in range(3):
        f.product(f"R-{i}")
    push_catalog(backend)
    Binding.objects.filter(backend=backend).delete()
    SyncRun.objects.filter(backend=backend).update(status=SyncRun.Status.FAILED)
    run = push_catalog(backend)
    assert (run.created, run.updated) == (0, 3)
    assert stats(sandbox)["elements"] == 3


@pytest.mark.django_db(transaction=True)
def test_a_run_stopped_while_the_next_batches_are_prepared_leaves_every_sent_element_bound(sandbox):
    """While the budget makes a batch wait, the next ones are prepared (integration.amocrm.catalog_push): a run
    stopped there has bound every element amoCRM answered for, and the next run creates each missing one once."""
    from tests.amocrm.conftest import connect_backend

    backend = connect_backend(sandbox, catalog_batch_size=2, catalog_scope="all", rate_limit=2)
    store = f.warehouse("Склад")
    for i in range(24):
        f.stock(f.product(f"S-{i}"), store, on_hand=str(i))

    def stop_once_a_batch_is_bound(done, total):
        # Called as each chunk is prepared; after the first batch the chunks are prepared while a batch waits.
        if Binding.objects.filter(backend=backend).exists():
            raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        push_catalog(backend, progress=stop_once_a_batch_is_bound)
    created = stats(sandbox)["counters"]["elements_created"]
    assert created == Binding.objects.filter(backend=backend).count() < 24
    run = push_catalog(backend)
    assert (run.status, run.created, run.unchanged) == ("succeeded", 24 - created, created)
    assert stats(sandbox)["elements"] == 24 and Binding.objects.filter(backend=backend).count() == 24


def test_scope_by_erp_ids_articles_and_local_ids(sandbox, backend, assortment):
    # ERP ids and articles are text; a local id is a JSON number (a digit text is an article, never an id).
    backend.settings.update(catalog_scope="chosen", catalog_products=["erp-0", "CAB-1", str(assortment[2].pk)])
    backend.save()
    push_catalog(backend)
    assert set(by_sku(sandbox)) == {"CAB-0", "CAB-1"}
    backend.settings.update(catalog_products=[assortment[2].pk])
    backend.save()
    push_catalog(backend)
    assert set(by_sku(sandbox)) == {"CAB-0", "CAB-1", "CAB-2"}


def test_scope_by_groups_takes_subgroups_and_only_active_products(sandbox, backend, assortment):
    from catalog.models import Category

    cables = Category.objects.create(name="Кабели", erp_id="folder-cables")
    copper = Category.objects.create(name="Медные", parent=cables)
    Product.objects.filter(pk=assortment[0].pk).update(category=cables)
    Product.objects.filter(pk=assortment[1].pk).update(category=copper)
    Product.objects.filter(pk=assortment[2].pk).update(category=copper, active=False)
    backend.settings.update(catalog_scope="groups", catalog_groups=["folder-cables"])
    backend.save()
    push_catalog(backend)
    assert set(by_sku(sandbox)) == {"CAB-0", "CAB-1"}


def test_unknown_scope_fails_the_run_with_the_setting_named(sandbox, backend, assortment):
    backend.settings.update(catalog_scope="some")
    backend.save()
    from integration.errors import PermanentError
    from integration.models import SyncRun

    with pytest.raises(PermanentError, match="settings.catalog_scope: unknown value 'some'"):
        push_catalog(backend)
    run = SyncRun.objects.get(kind="crm_catalog")
    assert run.status == "failed" and "use one of active, all, groups, chosen" in run.error
