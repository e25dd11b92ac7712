"""The widget API over real HTTP with input no widget would send: every answer is a 4xx problem+json and nothing
changes (the tables the property run watches keep their rows, versions and reserves)."""

import json

import pytest

from integration.amocrm.widget_token import mint_widget_token
from tests.integration_core.rawhttp import send
from tests.widget.conftest import MANAGER
from tests.widget.test_property_api import FOREIGN_LEAD, snapshot, world

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

JSON = "application/json"


def cart(product, quantity: str = '"1"') -> bytes:
    return b'{"lines": [{"product": ' + str(product).encode() + b', "quantity": ' + quantity.encode() + b"}]}"


def hostile_requests(ids) -> dict[str, tuple[str, bytes, str, int]]:
    lead, product = ids["lead_id"][0], ids["product"][0]
    order = f"/api/widget/v1/leads/{lead}/order"
    return {
        "invalid UTF-8": (order, b'{"lines": [{"product": 1, "quantity": "\xff\xfe"}]}', JSON, 400),
        "binary": (order, bytes(range(256)) * 4, JSON, 400),
        "UTF-16 declared, UTF-8 sent": (order, cart(product), JSON + "; charset=utf-16", 400),
        "plain text": (order, cart(product), "text/plain", 415),
        "a form": (order, b"lines=1", "application/x-www-form-urlencoded", 415),
        "multipart without a boundary": (order, b"--x\r\n", "multipart/form-data", 415),
        "nested 100,000 deep": (order, b"[" * 100_000 + b"]" * 100_000, JSON, 400),
        "nested objects 100,000 deep": (order, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, JSON, 400),
        "25 MB": (order, b'{"lines": [], "comment": "' + b"x" * 25_000_000 + b'"}', JSON, 413),
        "a quantity beyond Decimal precision": (order, cart(product, "1e999999999"), JSON, 400),
        "a quantity of 5,000 digits": (order, cart(product, "9" * 5000), JSON, 400),
        "a tiny quantity": (order, cart(product, "1e-999999999"), JSON, 400),
        "an amount that overflows": (order, cart(product, '"999999999999999"'), JSON, 400),
        "NaN": (order, cart(product, "NaN"), JSON, 400),
        "Infinity": (order, cart(product, "Infinity"), JSON, 400),
        "-Infinity as a string": (order, cart(product, '"-Infinity"'), JSON, 400),
        "an unknown product": (order, cart(999_999_999), JSON, 400),
        "a product id beyond bigint": (order, cart(2**64), JSON, 400),
        "an unknown deal": ("/api/widget/v1/leads/999999999/order", cart(product), JSON, 404),
        "a deal id of 5,000 digits": ("/api/widget/v1/leads/" + "9" * 5000 + "/order", cart(product), JSON, 404),
        "another account's deal": (f"/api/widget/v1/leads/{FOREIGN_LEAD}/order", cart(product), JSON, 404),
        "approving another account's deal": (f"/api/widget/v1/leads/{FOREIGN_LEAD}/order/approve",
                                             b'{"reason": "x"}', JSON, 404),
        "cancelling another account's deal": (f"/api/widget/v1/leads/{FOREIGN_LEAD}/order/cancel", b"{}", JSON, 404),
        "documents of another account's deal": (f"/api/widget/v1/leads/{FOREIGN_LEAD}/documents",
                                                b'{"kind": "invoice"}', JSON, 404),
    }


def test_hostile_bodies_are_refused_with_a_4xx_problem_and_change_nothing(amo, sandbox, http_server):
    ids = world(sandbox)
    before = snapshot()
    for name, (target, body, content_type, expected) in hostile_requests(ids).items():
        method = "PUT" if target.endswith("/order") else "POST"
        answer = send(http_server, target, body, method=method, timeout=120,
                      headers={"Content-Type": content_type, "X-Auth-Token": mint_widget_token(amo, MANAGER)})
        assert answer.status == expected, (name, answer.status, answer.body[:300])
        if answer.status != 404 or answer.headers.get("content-type") == "application/problem+json":
            problem = json.loads(answer.body)
            assert problem["status"] == expected and problem["detail"], (name, problem)
            assert "{" not in problem["title"] + problem["detail"], (name, problem)  # no unfilled placeholder
        assert snapshot() == before, name
