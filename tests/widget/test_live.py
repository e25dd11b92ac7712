"""The widget API over real HTTP on a live server: the reserve race and a schemathesis run."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from integration.amocrm.widget_token import mint_widget_token
from orders.models import Reservation
from tests.orders import factories as f
from tests.widget.conftest import create_deals

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_fifty_http_carts_for_the_last_ten_units(http_server, amo, sandbox):
    leads = create_deals(sandbox, 50)
    wh = f.warehouse()
    item = f.product("HTTP-RACE")
    f.stock(item, wh, 10)
    barrier = threading.Barrier(50)

    def put(lead_id: int) -> int:
        token = mint_widget_token(amo, 501)
        with requests.Session() as session:
            barrier.wait(timeout=30)
            response = session.put(
                f"{http_server}/api/widget/v1/leads/{lead_id}/order",
                json={"lines": [{"product": item.pk, "quantity": "1"}]},
                headers={"X-Auth-Token": token}, timeout=60,
            )
        return response.status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(put, leads))
    assert sorted(codes) == [200] * 10 + [409] * 40
    held = Reservation.objects.filter(product=item, status="pending")
    assert sum((r.quantity for r in held), Decimal("0")) == 10 and held.count() == 10


def test_schemathesis_finds_no_server_errors(http_server, amo):
    wh = f.warehouse()
    item = f.product("ST-1", name="Schemathesis drill")
    f.stock(item, wh, 100)
    schema = schemathesis.openapi.from_url(f"{http_server}/api/schema/")
    operations = [
        result.ok() for result in schema.get_all_operations()
        if result.ok().path.startswith("/api/widget/v1/")
    ]
    assert len(operations) == 8  # ping, products, the order and its approve/cancel, documents, the PDF
    session = requests.Session()
    for operation in operations:

        @settings(max_examples=12, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=http_server, session=session,
                                 headers={"X-Auth-Token": mint_widget_token(amo, 777)})
            case.validate_response(response, checks=[not_a_server_error])

        check()
    session.close()
