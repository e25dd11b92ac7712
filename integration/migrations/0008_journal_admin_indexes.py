"""Indexes for the admin lists of big tables (issue 18, `admin_changelists` bench), PostgreSQL only, built
CONCURRENTLY (no write lock on a journal of millions of rows):

- the journal's search (url, object, error: ILIKE '%q%' as Django's icontains writes it, UPPER(col) LIKE UPPER(q))
  scanned every row — 1.5 s at 1M entries; trigram GIN indexes answer it from the index;
- counting the refused/failed exchanges (the «outcome» filter, 0.5 % of rows) scanned every row (330 ms at 1M);
  a partial index holds just those;
- the outbox's date drill-down probes periods on created_at, which had no index (a BRIN index: ranges only).
"""

from django.db import migrations

INDEXES = {
    "journal_url_trgm": "integration_journalentry USING gin (UPPER(url::text) gin_trgm_ops)",
    "journal_object_repr_trgm": "integration_journalentry USING gin (UPPER(object_repr::text) gin_trgm_ops)",
    "journal_error_trgm": "integration_journalentry USING gin (UPPER(error::text) gin_trgm_ops)",
    "journal_failures": ("integration_journalentry (status_code, created_at) "
                         "WHERE status_code >= 400 OR status_code IS NULL"),
    # BRIN: a few pages for the whole table and next to no work per insert/update (the outbox is the hot path;
    # a btree there would cost every event version an index entry). Events are written in created_at order.
    "outbox_created_at_brin": "integration_outboxevent USING brin (created_at)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("integration", "0007_commerceml_exchange")]

    operations = [migrations.RunPython(create, drop)]
