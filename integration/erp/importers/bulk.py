"""Fast bulk writes for the syncs on PostgreSQL: COPY into the table (or into a temporary table, then
INSERT … ON CONFLICT). Django's bulk_create prepares every value in Python, which costs more than the
whole HTTP side on 100,000 products; COPY streams the rows. Other databases fall back to bulk_create."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg
from django.db import IntegrityError, connection, models, transaction


def copy_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
    skip_duplicates: bool = False,
) -> None:
    """Insert `rows` (tuples in `columns` order, db column names).

    With `conflict` columns: rows clashing with existing ones are skipped, or update `update` columns.
    With `skip_duplicates`: rows clashing with any unique constraint (partial ones too) are skipped.
    Call it inside the caller's transaction (the temporary table lives until the commit).
    """
    rows = list(rows)
    if not rows:
        return
    table = model._meta.db_table
    if connection.vendor != "postgresql":
        fields = {f.column: f.attname for f in model._meta.concrete_fields}
        objects = [model(**{fields[c]: v for c, v in zip(columns, row, strict=True)}) for row in rows]
        if update:
            model.objects.bulk_create(
                objects,
                update_conflicts=True,
                unique_fields=[fields[c] for c in conflict],
                update_fields=[fields[c] for c in update],
            )
        else:
            model.objects.bulk_create(objects, ignore_conflicts=bool(conflict) or skip_duplicates)
        return
    column_list = ", ".join(columns)
    if skip_duplicates and not conflict:
        try:  # the fast path, in a savepoint; a clash is rare (a concurrent writer of the same rows)
            copy_rows(model, columns, rows)
            return
        except (IntegrityError, psycopg.errors.IntegrityError):
            pass
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor: COPY is not part of Django's API
        if not conflict and not skip_duplicates:
            with raw.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        temp = f"tmp_{table}"
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{temp}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS SELECT {column_list} FROM {table} WITH NO DATA"
        )
        with raw.copy(f"COPY {temp} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        target = f"({', '.join(conflict)}) " if conflict else ""
        action = (
            "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in update) if update else "DO NOTHING"
        )
        cursor.execute(
            f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {temp} ON CONFLICT {target}{action}"
        )
        cursor.execute(f"DROP TABLE pg_temp.{temp}")


def update_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """UPDATE `columns` of existing rows: each row is (values…, pk). One prepared statement, pipelined —
    far cheaper than bulk_update's CASE expressions over thousands of rows."""
    rows = list(rows)
    if not rows:
        return
    assignments = ", ".join(f"{c} = %s" for c in columns)
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {model._meta.db_table} SET {assignments} WHERE id = %s", rows)
