"""Trigram indexes for the widget's product search (ILIKE '%q%' on name and article, as Django's
icontains writes it: UPPER(col::text) LIKE UPPER(q)) and an index on pack barcodes. PostgreSQL only."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS product_name_trgm ON catalog_product USING gin (UPPER(name::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS product_article_trgm ON catalog_product USING gin (UPPER(article::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS pack_barcode_idx ON catalog_pack (barcode)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS product_name_trgm",
    "DROP INDEX IF EXISTS product_article_trgm",
    "DROP INDEX IF EXISTS pack_barcode_idx",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("orders", "0002_stock_guard"),
    ]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
