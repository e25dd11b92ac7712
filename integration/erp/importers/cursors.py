"""Sync cursors kept in Backend.cursors (a JSON dict), updated without touching the rest of the row."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from integration.models import Backend


def get_cursor(backend: Backend, name: str) -> datetime | None:
    raw = (Backend.objects.filter(pk=backend.pk).values_list("cursors", flat=True).first() or {}).get(name)
    return datetime.fromisoformat(raw) if raw else None


def set_cursor(backend: Backend, name: str, value: datetime) -> None:
    """Merge one cursor under a row lock (other syncs write theirs concurrently); no history row."""
    with transaction.atomic():
        cursors = (
            Backend.objects.select_for_update().filter(pk=backend.pk).values_list("cursors", flat=True).get()
        )
        cursors = dict(cursors or {})
        cursors[name] = value.isoformat()
        Backend.objects.filter(pk=backend.pk).update(cursors=cursors)
    backend.cursors = cursors
