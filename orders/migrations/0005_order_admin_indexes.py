"""Indexes for the orders' admin list (issue 18, `admin_changelists` bench), PostgreSQL only, built CONCURRENTLY:
created_at for the date drill-down (it probes periods with EXISTS, see integration.staff.bigtables), and a
trigram index for the search by ERP number (ILIKE '%q%' scanned every order)."""

from django.db import migrations

INDEXES = {
    "order_created_at": "orders_order (created_at)",
    "order_erp_number_trgm": "orders_order USING gin (UPPER(erp_number::text) gin_trgm_ops)",
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

    dependencies = [("orders", "0004_erp_pending_reason_and_warehouse_rule")]

    operations = [migrations.RunPython(create, drop)]
