from decimal import Decimal
from types import SimpleNamespace

import pytest

from integration.amocrm.tokens import exchange_code
from integration.models import Backend
from integration.sandbox.process import start_sandbox

CLIENT_ID = "0b0832f6-1d0a-4c71-9a50-4d7c5f1e2a11"
CLIENT_SECRET = "s3cr3t-client-secret-for-tests-0123456789"
REDIRECT_URI = "https://erp.example.com/hooks/amocrm/oauth/"
ACCOUNT_ID = 30441694


@pytest.fixture(scope="session")
def amo_sandbox():
    sandbox = start_sandbox("amocrm", options={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI,
        "account_id": ACCOUNT_ID, "webhook_time_scale": 0.001, "webhook_timeout": 2.0,
    })
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(amo_sandbox):
    amo_sandbox.reset()
    yield amo_sandbox
    amo_sandbox.reset()


def stats(sandbox) -> dict:
    return sandbox.control("stats", method="GET")


def dump(sandbox, entity: str) -> list[dict]:
    return sandbox.control(f"amocrm/dump?entity={entity}", method="GET")["rows"]


def as_manager(sandbox, method: str, path: str, body=None, user_id: int = 1001) -> dict:
    answer = sandbox.control("amocrm/as_manager", {"method": method, "path": path, "body": body, "user_id": user_id})
    assert answer["status"] < 300, answer
    return answer["body"]


def connect_backend(sandbox, name: str = "amo", **settings) -> Backend:
    backend = Backend.objects.create(
        name=name, kind=Backend.Kind.AMOCRM, base_url=sandbox.url,
        credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI},
        settings={"account_id": ACCOUNT_ID, "subdomain": "demo", **settings})
    code = sandbox.control("amocrm/oauth/code", {})["code"]
    exchange_code(backend, code)
    return backend


@pytest.fixture
def backend(sandbox, db):
    return connect_backend(sandbox)


def make_shop() -> SimpleNamespace:
    """A default price list, one warehouse, a cable (10 in stock) and a lamp (2 in stock)."""
    from catalog.models import Price, PriceList
    from tests.catalog import factories as f

    retail = PriceList.objects.create(name="Розница", code="retail", is_default=True)
    store = f.warehouse("Основной")
    cable = f.product("CAB-1", name="Кабель ВВГ 3х2,5")
    lamp = f.product("LMP-1", name="Светильник LED")
    for product, price, on_hand in ((cable, "100", "10"), (lamp, "50", "2")):
        Price.objects.create(product=product, price_list=retail, amount=Decimal(price))
        f.stock(product, store, on_hand=on_hand)
    return SimpleNamespace(cable=cable, lamp=lamp, store=store)
