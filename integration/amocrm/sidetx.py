"""A transaction that commits on its own even when the caller is inside a business transaction.

Token rotation and the rate-limit window must be committed (and their row locks released) at once, whatever
the caller is doing. On PostgreSQL that takes a second, short-lived connection; SQLite has one writer, so there
we stay on the caller's connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from integration.journal import in_business_transaction

SIDE_ALIAS = "amocrm_side"


@contextmanager
def independent_atomic() -> Iterator[str]:
    """`with independent_atomic() as using:` — run queries `.using(using)`; committed when the block ends."""
    if connection.vendor != "postgresql" or not in_business_transaction():
        with transaction.atomic():
            yield DEFAULT_DB_ALIAS
        return
    wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
    connections[SIDE_ALIAS] = wrapper
    try:
        with transaction.atomic(using=SIDE_ALIAS):
            yield SIDE_ALIAS
    finally:
        del connections[SIDE_ALIAS]
        wrapper.close()
