"""Backend switches: pause (traffic held, nothing lost) and resume."""

from __future__ import annotations

import hmac

from django.db import transaction
from django.utils import timezone

from .models import Backend, OutboxEvent
from .wakeup import QUEUES, notify


def pause_backend(backend: Backend, *, reason: str = "", user=None) -> Backend:
    with transaction.atomic():
        backend = Backend.objects.select_for_update().get(pk=backend.pk)
        backend.paused = True
        backend.paused_reason = reason[:500]
        backend._history_user = user
        backend.save(update_fields=["paused", "paused_reason", "updated_at"])
    return backend


def resume_backend(backend: Backend, *, user=None) -> Backend:
    """Resume and make held events due now (those postponed while paused)."""
    with transaction.atomic():
        backend = Backend.objects.select_for_update().get(pk=backend.pk)
        backend.paused = False
        backend.paused_reason = ""
        backend._history_user = user
        backend.save(update_fields=["paused", "paused_reason", "updated_at"])
        OutboxEvent.objects.filter(
            backend=backend, status=OutboxEvent.Status.PENDING, attempts=0, next_attempt_at__gt=timezone.now()
        ).update(next_attempt_at=timezone.now())
        for queue in QUEUES:
            notify(queue)
    return backend


def backend_for_webhook_secret(kind: str, secret: str) -> Backend | None:
    """The active backend of `kind` whose webhook URL carries `secret` (compared in constant time, as UTF-8 bytes:
    a URL may carry any character)."""
    given = secret.encode("utf-8", errors="surrogatepass")
    for backend in Backend.objects.filter(kind=kind, active=True):
        expected = str((backend.settings or {}).get("webhook_secret") or "")
        if expected and hmac.compare_digest(expected.encode("utf-8", errors="surrogatepass"), given):
            return backend
    return None
