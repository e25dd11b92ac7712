"""CORS for the widget API: only the configured amoCRM accounts' own origins (https://<subdomain>.amocrm.ru)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from integration.models import Backend

API_PREFIX = "/api/widget/"
CACHE_SECONDS = 30.0
_cache: tuple[float, frozenset[str]] = (0.0, frozenset())


def account_origins() -> frozenset[str]:
    """Origins of the active amoCRM backends (cached briefly: this runs for every cross-origin request)."""
    global _cache
    stamp, origins = _cache
    if time.monotonic() - stamp < CACHE_SECONDS:
        return origins
    found = set()
    for backend in Backend.objects.filter(kind=Backend.Kind.AMOCRM, active=True):
        subdomain = backend.settings.get("subdomain")
        if subdomain:
            found.add(f"https://{subdomain}.amocrm.ru")
        parts = urlsplit(backend.base_url or "")
        if parts.scheme == "https" and parts.netloc:
            found.add(f"https://{parts.netloc}")
    _cache = (time.monotonic(), frozenset(found))
    return _cache[1]


def reset_cache() -> None:
    global _cache
    _cache = (0.0, frozenset())


def allow_amocrm_account_origin(sender, request, **kwargs) -> bool:
    """django-cors-headers `check_request_enabled` receiver."""
    if not request.path.startswith(API_PREFIX):
        return False
    return request.headers.get("Origin", "") in account_origins()
