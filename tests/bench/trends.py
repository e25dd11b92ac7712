"""Benchmark: the charts over time on a big journal — 1,000,000 exchanges, 100,000 outbox events, 50,000
webhooks and 20,000 sync runs spread over 30 days — per period, cold (no cache), all backends and one."""

from __future__ import annotations

import time
from datetime import timedelta

JOURNAL = 1_000_000
OUTBOX = 100_000
INBOX = 50_000
RUNS = 20_000


def _seed() -> None:
    from django.db import connection
    from django.utils import timezone

    from integration.models import Backend

    erp = Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="http://127.0.0.1:9/api")
    Backend.objects.create(name="amocrm", kind=Backend.Kind.AMOCRM, base_url="http://127.0.0.1:9")
    start = timezone.now() - timedelta(days=30)
    with connection.cursor() as cursor:
        # generate_series on the server: seeding a million rows through the ORM would be the benchmark.
        cursor.execute(
            """INSERT INTO integration_journalentry (backend_id, direction, method, url, status_code, duration_ms,
                   request_headers, request_body, response_headers, response_body, error, object_id, object_repr,
                   created_at)
               SELECT b.id, 'out', 'GET', '/entity/product', (ARRAY[200,200,200,200,200,200,429,404,500,503])[1 + i %% 10],
                      50, '{}', '', '{}', '', '', '', '', %s + (i * interval '30 days' / %s)
               FROM generate_series(1, %s) i
               JOIN integration_backend b ON b.id = (SELECT min(id) FROM integration_backend) + i %% 2""",
            [start, JOURNAL, JOURNAL],
        )
        cursor.execute(
            """INSERT INTO integration_outboxevent (backend_id, topic, aggregate_type, aggregate_id, payload,
                   idempotency_key, status, attempts, max_attempts, next_attempt_at, lease_owner, last_error,
                   created_at, delivered_at, updated_at)
               SELECT %s, 'order.push', 'order', i::text, '{}', 'k' || i,
                      CASE WHEN i %% 100 = 0 THEN 'pending' WHEN i %% 97 = 0 THEN 'dead' ELSE 'delivered' END,
                      1, 10, now(), '', '', %s + (i * interval '30 days' / %s),
                      CASE WHEN i %% 100 = 0 OR i %% 97 = 0 THEN NULL
                           ELSE %s + (i * interval '30 days' / %s) + interval '90 seconds' END,
                      %s + (i * interval '30 days' / %s) + interval '5 minutes'
               FROM generate_series(1, %s) i""",
            [erp.pk, start, OUTBOX, start, OUTBOX, start, OUTBOX, OUTBOX],
        )
        cursor.execute(
            """INSERT INTO integration_inboxmessage (source, backend_id, message_id, dedup_key, body, content_type,
                   headers, status, attempts, max_attempts, next_attempt_at, lease_owner, error, received_at,
                   duplicates)
               SELECT 'moysklad', %s, '', 'd' || i, '\\x7b7d', 'application/json', '{}', 'done', 1, 8, now(), '',
                      '', %s + (i * interval '30 days' / %s), i %% 3
               FROM generate_series(1, %s) i""",
            [erp.pk, start, INBOX, INBOX],
        )
        cursor.execute(
            """INSERT INTO integration_syncrun (backend_id, kind, trigger, status, "full", dry_run, started_at,
                   finished_at, heartbeat_at, host, created, updated, unchanged, skipped, failed, error, details)
               SELECT %s, (ARRAY['stock','orders','erp_changes','counterparties'])[1 + i %% 4], 'schedule',
                      CASE WHEN i %% 50 = 0 THEN 'failed' ELSE 'succeeded' END, false, false,
                      %s + (i * interval '30 days' / %s), %s + (i * interval '30 days' / %s) + interval '20 seconds',
                      now(), '', 0, 1, 0, 0, 0, '', '{}'
               FROM generate_series(1, %s) i""",
            [erp.pk, start, RUNS, start, RUNS, RUNS],
        )
        cursor.execute("ANALYZE")


def run() -> list[dict]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from integration.models import Backend
    from integration.staff.trends import build_trends

    began = time.perf_counter()
    _seed()
    seeded = round(time.perf_counter() - began, 1)
    erp = Backend.objects.get(name="moysklad")
    results = []
    for period in ("24h", "7d", "30d"):
        for backend in (None, erp):
            reset_queries()
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                trends = build_trends(period, backend=backend)
                seconds = time.perf_counter() - began
            results.append({
                "scenario": "trends", "period": period, "backend": backend.name if backend else "all",
                "journal_rows": JOURNAL, "outbox_rows": OUTBOX, "inbox_rows": INBOX, "sync_runs": RUNS,
                "seconds": round(seconds, 3), "queries": len(queries), "charts": len(trends.charts),
                "query_seconds": [float(q["time"]) for q in queries.captured_queries],
                "seed_seconds": seeded,
            })
    return results
