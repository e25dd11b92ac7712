"""Alerts staff see in the admin (and the dashboard, through Backend.paused_reason)."""

from __future__ import annotations

import logging

from django.utils import timezone

from integration.amocrm.errors import BackendSuspended
from integration.amocrm.models import Alert
from integration.backends import pause_backend
from integration.models import Backend

logger = logging.getLogger(__name__)


def raise_alert(backend: Backend, code: str, message: str, *, level: str = Alert.Level.ERROR) -> Alert:
    """Record an alert once: an open alert with the same code is reused."""
    alert = Alert.objects.filter(backend=backend, code=code, resolved_at__isnull=True).first()
    if alert is None:
        alert = Alert.objects.create(backend=backend, code=code, message=message[:4000], level=level)
    log = logger.error if level == Alert.Level.ERROR else logger.warning
    log("amoCRM backend %s: %s: %s", backend.name, code, message)
    return alert


def suspend_backend(backend: Backend, code: str, message: str) -> BackendSuspended:
    """Pause the backend (its traffic is held, nothing lost), raise an alert; returns the error to raise."""
    raise_alert(backend, code, message)
    paused = pause_backend(backend, reason=message)
    backend.paused, backend.paused_reason = paused.paused, paused.paused_reason
    return BackendSuspended(backend.name, message)


def resolve_alerts(backend: Backend, *codes: str) -> int:
    return Alert.objects.filter(backend=backend, code__in=codes, resolved_at__isnull=True).update(
        resolved_at=timezone.now())
