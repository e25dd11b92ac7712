"""OAuth2 tokens of an amoCRM backend, kept in Backend.credentials.

credentials: client_id, client_secret, redirect_uri, access_token, refresh_token, expires_at (Unix seconds),
long_lived (bool: an admin-issued long-lived token — no refresh; a 401 pauses the backend).

A refresh token works once. Rotation therefore happens under a lock on the Backend row: the process that holds
the lock re-reads the row; if the access token it was unhappy with has already been replaced, it takes the new
one; otherwise it refreshes and commits the new pair before anybody uses it. Two processes refreshing at once
end with one refresh at amoCRM and both proceeding.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.utils.translation import gettext as _

from integration.amocrm.alerts import resolve_alerts, suspend_backend
from integration.amocrm.errors import AmbiguousWrite, NotConnected, OAuthRejected
from integration.amocrm.sidetx import independent_atomic
from integration.http import build_session
from integration.models import Backend

logger = logging.getLogger(__name__)
REFRESH_MARGIN = 300  # refresh proactively when the access token has less than this many seconds left


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: int
    long_lived: bool

    def expiring(self, now: float | None = None) -> bool:
        if self.long_lived or not self.expires_at:
            return False
        return self.expires_at - (now or time.time()) < REFRESH_MARGIN


def current_tokens(backend: Backend) -> Tokens:
    creds = backend.credentials
    if not creds.get("access_token"):
        raise NotConnected(_("The amoCRM account of %(name)s is not connected yet.") % {"name": backend.name})
    return Tokens(access_token=creds["access_token"], refresh_token=creds.get("refresh_token", ""),
                  expires_at=int(creds.get("expires_at") or 0), long_lived=bool(creds.get("long_lived")))


def token_url(backend: Backend) -> str:
    return backend.base_url.rstrip("/") + "/oauth2/access_token"


def _post_token(backend: Backend, payload: dict[str, Any], session: requests.Session | None) -> dict[str, Any]:
    creds = backend.credentials
    body = {"client_id": creds.get("client_id"), "client_secret": creds.get("client_secret"),
            "redirect_uri": creds.get("redirect_uri"), **payload}
    session = session or build_session(backend)
    try:
        response = session.post(token_url(backend), json=body)
    except (requests.ConnectionError, requests.Timeout) as exc:
        # The endpoint may have rotated the pair and we never heard: the old refresh token may be dead now.
        raise AmbiguousWrite(f"token endpoint unreachable: {type(exc).__name__}") from exc
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code >= 500:
        raise AmbiguousWrite(f"token endpoint answered {response.status_code}")
    if response.status_code != 200 or not data.get("access_token"):
        hint = str(data.get("hint") or data.get("detail") or response.text[:200])
        raise OAuthRejected(hint, status=response.status_code, hint=hint)
    return data


def _store(credentials: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    now = int(data.get("server_time") or time.time())
    return {**credentials, "access_token": data["access_token"], "refresh_token": data.get("refresh_token", ""),
            "expires_at": now + int(data.get("expires_in") or 86400), "long_lived": False}


def exchange_code(backend: Backend, code: str, *, session: requests.Session | None = None) -> Tokens:
    """The authorization-code grant (the "connect an account" page): store the first pair."""
    data = _post_token(backend, {"grant_type": "authorization_code", "code": code.strip()}, session)
    with independent_atomic() as using:
        row = Backend.objects.using(using).select_for_update().get(pk=backend.pk)
        credentials = _store(row.credentials, data)
        Backend.objects.using(using).filter(pk=backend.pk).update(credentials=credentials)
    backend.credentials = credentials
    resolve_alerts(backend, "token-revoked", "unauthorized")
    return current_tokens(backend)


def set_long_lived_token(backend: Backend, token: str, *, expires_at: int | None = None) -> Tokens:
    """Store an admin-issued long-lived token (private integrations): no refresh token."""
    with independent_atomic() as using:
        row = Backend.objects.using(using).select_for_update().get(pk=backend.pk)
        credentials = {**row.credentials, "access_token": token.strip(), "refresh_token": "",
                       "expires_at": int(expires_at or 0), "long_lived": True}
        Backend.objects.using(using).filter(pk=backend.pk).update(credentials=credentials)
    backend.credentials = credentials
    resolve_alerts(backend, "token-revoked", "unauthorized")
    return current_tokens(backend)


def refresh_access_token(backend: Backend, stale_access_token: str, *,
                         session: requests.Session | None = None) -> Tokens:
    """Get a working access token to replace `stale_access_token` (exactly one refresh across processes).

    Raises BackendSuspended (the backend is paused and an alert raised) when amoCRM rejects the refresh token
    or the token is long-lived, and AmbiguousWrite when the token endpoint could not be reached.
    """
    with independent_atomic() as using:
        row = Backend.objects.using(using).select_for_update().get(pk=backend.pk)
        creds = row.credentials
        if creds.get("access_token") and creds.get("access_token") != stale_access_token:
            backend.credentials = creds  # somebody refreshed while we waited for the lock
            return current_tokens(backend)
        if creds.get("long_lived") or not creds.get("refresh_token"):
            code, message = "unauthorized", _(
                "amoCRM rejected the long-lived token of %(name)s (revoked or expired). Issue a new token in the "
                "integration's settings in amoCRM, store it on the backend, then resume it.") % {"name": backend.name}
        else:
            try:
                data = _post_token(row, {"grant_type": "refresh_token", "refresh_token": creds["refresh_token"]},
                                   session)
            except OAuthRejected as exc:
                code, message = "token-revoked", _(
                    "amoCRM refused to refresh the token of %(name)s (%(hint)s): the integration was disabled in "
                    "amoCRM or the refresh token was lost. An administrator must connect the account again, then "
                    "resume the backend.") % {"name": backend.name, "hint": exc.hint or exc.status}
            else:
                credentials = _store(creds, data)
                Backend.objects.using(using).filter(pk=backend.pk).update(credentials=credentials)
                backend.credentials = credentials
                logger.info("amoCRM backend %s: access token refreshed", backend.name)
                return current_tokens(backend)
    # The row lock is released before pausing (pause_backend locks the same row on the default connection).
    raise suspend_backend(backend, code, message)
