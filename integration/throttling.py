"""Rate limits of the public endpoints: the widget API (DRF throttles) and both webhook endpoints (plain views),
per amoCRM account / backend and per client IP. Limits are settings (AMOERP_THROTTLE, "N/period", "" = off).
Failed admin logins are locked out by django-axes (LoginLockoutBackend, settings AXES_*).

One fixed-window counter per (scope, caller) in the database (widget.ThrottleWindow), updated with a single
UPSERT, so several web processes and hosts share it. Over the limit: 429 problem+json with Retry-After.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from rest_framework.throttling import BaseThrottle

from integration.widget.models import ThrottleWindow

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
           "d": 86400, "day": 86400}
PURGE_EVERY_SECONDS = 60.0
_last_purge = 0.0


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds


def parse_rate(value: str) -> Rate | None:
    """"600/min" → Rate(600, 60); "" or "0/…" → None (no limit); ValueError for anything else."""
    if not value or not value.strip():
        return None
    count, _sep, period = value.strip().partition("/")
    seconds = PERIODS.get(period.strip().lower())
    if not count.strip().isdigit() or seconds is None:
        raise ValueError(f"bad rate {value!r}: expected N/s, N/min, N/hour or N/day")
    return Rate(int(count), seconds) if int(count) > 0 else None


def rate_for(name: str) -> Rate | None:
    return parse_rate(settings.AMOERP_THROTTLE[name])


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or the address the last of AMOERP_THROTTLE["TRUSTED_PROXIES"] proxies
    saw (X-Forwarded-For is trusted only that far; a client can put anything before it)."""
    proxies = int(settings.AMOERP_THROTTLE["TRUSTED_PROXIES"])
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies > 0 and forwarded:
        return forwarded[-min(proxies, len(forwarded))][:64]
    return remote[:64]


def hit(scope: str, caller: str, rate: Rate | None) -> float | None:
    """Count one request of `caller` in `scope`; the seconds to wait when it is over the rate, else None."""
    if rate is None:
        return None
    now = time.time()
    window_end = (int(now) // rate.period + 1) * rate.period
    table = ThrottleWindow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS t (key, window_end, hits) VALUES (%s, %s, 1) "  # noqa: S608 — our table name
            "ON CONFLICT (key) DO UPDATE SET "
            "hits = CASE WHEN t.window_end = EXCLUDED.window_end THEN t.hits + 1 ELSE 1 END, "
            "window_end = EXCLUDED.window_end RETURNING hits",
            [f"{scope}:{caller}"[:200], window_end],
        )
        hits = cursor.fetchone()[0]
    _purge(now)
    return max(window_end - now, 1.0) if hits > rate.limit else None


def _purge(now: float) -> None:
    global _last_purge
    if time.monotonic() - _last_purge > PURGE_EVERY_SECONDS:
        _last_purge = time.monotonic()
        ThrottleWindow.objects.filter(window_end__lt=int(now) - 60).delete()


def too_many_requests(wait: float) -> JsonResponse:
    """429 problem+json for the plain (non-DRF) views, with Retry-After in whole seconds."""
    seconds = math.ceil(wait)
    body = {"type": "urn:amoerp:problem:throttled", "title": str(_("Too many requests")), "status": 429,
            "detail": str(_("Request was throttled. Expected available in %(seconds)d seconds.")
                          % {"seconds": seconds})}
    response = JsonResponse(body, status=429, content_type="application/problem+json")
    response["Retry-After"] = str(seconds)
    return response


def webhook_ip_limit(request: HttpRequest, scope: str) -> JsonResponse | None:
    """Before anything else (a flood of guessed secrets too): 429 when the caller's IP is over its rate."""
    wait = hit(f"{scope}-ip", client_ip(request), rate_for("WEBHOOK_IP"))
    return too_many_requests(wait) if wait is not None else None


def webhook_backend_limit(scope: str, backend_id: int) -> JsonResponse | None:
    """Once the secret named the backend: 429 when its account is over its rate."""
    wait = hit(f"{scope}-backend", str(backend_id), rate_for("WEBHOOK_ACCOUNT"))
    return too_many_requests(wait) if wait is not None else None


class _WindowThrottle(BaseThrottle):
    scope = ""
    setting = ""

    def caller(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        caller = self.caller(request, view)
        self._wait = hit(self.scope, caller, rate_for(self.setting)) if caller is not None else None
        return self._wait is None

    def wait(self):
        return self._wait


class WidgetIpThrottle(_WindowThrottle):
    """Per client IP; checked before the token is verified, so a flood of bad tokens is throttled too."""

    scope, setting = "widget-ip", "WIDGET_IP"

    def caller(self, request, view) -> str:
        return client_ip(request)


class WidgetAccountThrottle(_WindowThrottle):
    """Per amoCRM account of the verified token."""

    scope, setting = "widget-account", "WIDGET_ACCOUNT"

    def caller(self, request, view) -> str | None:
        identity = getattr(request.user, "identity", None)
        return str(identity.account_id) if identity is not None else None


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for the admin login. A call without a request (the test client's login(),
    management commands) is no login attempt from the web: it is left to the next backend, not refused."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
