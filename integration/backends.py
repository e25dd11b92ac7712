"""Backend switches: pause (traffic held, nothing lost) and resume."""

from __future__ import annotations

import hmac
import secrets

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


def ensure_webhook_secret(backend: Backend) -> str:
    """The backend's webhook secret, generated (and stored encrypted) on first use."""
    if not backend.webhook_secret:
        with transaction.atomic():
            row = Backend.objects.select_for_update().get(pk=backend.pk)
            if not row.webhook_secret:
                row.credentials = {**row.credentials, "webhook_secret": secrets.token_urlsafe(24)}
                Backend.objects.filter(pk=row.pk).update(credentials=row.credentials)
            backend.credentials = {**(backend.credentials or {}), "webhook_secret": row.webhook_secret}
    return backend.webhook_secret


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
    a URL may carry any character). The secret is kept encrypted in the backend's credentials."""
    given = secret.encode("utf-8", errors="surrogatepass")
    for backend in Backend.objects.filter(kind=kind, active=True):
        expected = backend.webhook_secret  # decrypted on load: a handful of backends, ~0.1 ms each
        if expected and hmac.compare_digest(expected.encode("utf-8", errors="surrogatepass"), given):
            return backend
    return None
