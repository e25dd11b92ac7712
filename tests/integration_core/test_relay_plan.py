"""The relay's claim must stay cheap during a flood, when the table's statistics are stale (they still say a few
rows are pending): the planner then chose a bitmap scan of every due event, an anti-join of each against its
aggregate and a sort, 7–11 ms a claim at a 4,000-event backlog and growing with it, instead of walking
outbox_open_id in id order up to the limit."""

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integration import relay
from integration.models import OutboxEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def flood(backend, count: int) -> None:
    OutboxEvent.objects.bulk_create(
        OutboxEvent(backend=backend, topic="test.deliver", aggregate_type="orders.order", aggregate_id=str(n % 500),
                    payload={"seq": n}, idempotency_key=str(uuid.uuid4()))
        for n in range(count))


def test_a_claim_during_a_flood_walks_the_open_events_in_id_order(backend):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integration_outboxevent")  # statistics of an empty table, as before a flood
    flood(backend, 3000)
    with CaptureQueriesContext(connection) as claimed:
        batch = relay.claim("w1", 20)
    assert [e.pk for e in batch] == sorted(e.pk for e in batch) and len(batch) == 20
    statements = [q["sql"] for q in claimed.captured_queries]
    sql = next(s for s in statements if "SKIP LOCKED" in s)
    assert any("set_config('enable_sort'" in s for s in statements[:statements.index(sql)]), statements
    with transaction.atomic(), connection.cursor() as cursor:
        relay._walk_in_id_order()
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    assert "outbox_open_id" in plan and "Sort" not in plan and "Bitmap" not in plan, plan


def test_the_claimed_rows_come_back_leased_in_one_statement(backend):
    flood(backend, 30)
    with CaptureQueriesContext(connection) as claimed:
        batch = relay.claim("w1", 10)
    assert {(e.status, e.lease_owner, e.attempts) for e in batch} == {(OutboxEvent.Status.IN_FLIGHT, "w1", 1)}
    assert all(e.lease_expires_at is not None for e in batch)
    reads = [q["sql"] for q in claimed.captured_queries if q["sql"].startswith('SELECT "integration_outboxevent"')]
    assert len(reads) == 1, reads  # the candidates; the leased rows come back from the UPDATE … RETURNING
