"""X-Auth-Token authentication: the amoCRM disposable JWT, accepted once (jti replay cache) unless the
AMOERP_WIDGET["TOKEN_SINGLE_USE"] setting is off, mapped to rights."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from integration.amocrm.widget_token import (
    InvalidWidgetToken,
    WidgetIdentity,
    forget_keys,
    verify_widget_token,
)
from integration.models import Backend
from integration.widget.approvers import may_approve
from integration.widget.models import UsedToken
from orders.types import Actor

HEADER = "X-Auth-Token"
PURGE_EVERY_SECONDS = 60.0
KEEP_AFTER_EXPIRY = timedelta(minutes=2)  # longer than the verifier's leeway
_last_purge = 0.0

REASON_MESSAGES = {
    "expired": _("The token has expired."),
    "bad_signature": _("The token signature is invalid."),
    "wrong_audience": _("The token was issued for another integration."),
    "unknown_account": _("The token's amoCRM account is not connected."),
    "replayed": _("The token has already been used."),
}


@dataclass(frozen=True)
class WidgetUser:
    """The caller behind a verified widget token (what request.user is in the widget API)."""

    identity: WidgetIdentity
    is_authenticated = True
    is_anonymous = False

    @property
    def crm_user_id(self) -> int:
        return self.identity.user_id

    def actor(self, *, approving: bool = False) -> Actor:
        """The amoCRM user as the actor of a change; `approving`: ask whether they may approve (amoCRM may be
        asked about their group)."""
        can_approve = approving and may_approve(self.identity.backend, self.identity.user_id)
        return Actor(crm_user_id=self.identity.user_id, can_approve=can_approve, source="widget")

    def __str__(self) -> str:
        return f"amocrm:{self.identity.account_id}/{self.identity.user_id}"


def single_use() -> bool:
    return bool(settings.AMOERP_WIDGET["TOKEN_SINGLE_USE"])


def remember_jti(identity: WidgetIdentity) -> bool:
    """Accept each token id once; raises AuthenticationFailed for a missing or replayed jti. False (and nothing
    remembered) when identity.backend_id is no longer an active backend: the token was verified with a key kept
    per process, and this statement is what confirms it. With single use off (amoCRM does not document whether it
    sends a token once), a token is good until it expires."""
    global _last_purge
    if not single_use():
        return True
    if not identity.jti:
        raise AuthenticationFailed(_("The token has no id (jti)."), code="missing_jti")
    # One round trip, and no broken transaction on a replay: the row comes back only when it is new, and is
    # written only while the backend is active. (SQLite, the demo, has no INSERT inside WITH: two statements.)
    row = [identity.jti, identity.account_id, identity.user_id, identity.expires_at, timezone.now()]
    insert = f"INSERT INTO {UsedToken._meta.db_table} (jti, account_id, user_id, expires_at, used_at) "
    live_backend = f"SELECT b.id FROM {Backend._meta.db_table} b WHERE b.id = %s AND b.active"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH live AS ({live_backend}), used AS ({insert} SELECT %s, %s, %s, %s, %s FROM live "
                "ON CONFLICT (jti) DO NOTHING RETURNING id) SELECT EXISTS (SELECT 1 FROM live), "
                "EXISTS (SELECT 1 FROM used)",
                [identity.backend_id, *row],
            )
            live, used = cursor.fetchone()
        else:
            cursor.execute(live_backend, [identity.backend_id])
            live = cursor.fetchone() is not None
            if live:
                cursor.execute(f"{insert} VALUES (%s, %s, %s, %s, %s) ON CONFLICT (jti) DO NOTHING RETURNING id", row)
            used = live and cursor.fetchone() is not None
    if not live:
        return False
    if not used:
        raise AuthenticationFailed(REASON_MESSAGES["replayed"], code="replayed")
    if time.monotonic() - _last_purge > PURGE_EVERY_SECONDS:
        _last_purge = time.monotonic()
        UsedToken.objects.filter(expires_at__lt=timezone.now() - KEEP_AFTER_EXPIRY).delete()
    return True


class WidgetTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        token = request.headers.get(HEADER)
        if not token:
            return None
        # With single use on, remember_jti confirms that the backend is active: its key may be kept per process.
        identity = self.verify(token, remembered_key=single_use())
        if not remember_jti(identity):  # the kept key named a backend no longer active: read it again
            forget_keys()
            identity = self.verify(token, remembered_key=False)
            if not remember_jti(identity):
                raise AuthenticationFailed(REASON_MESSAGES["unknown_account"], code="unknown_account")
        return WidgetUser(identity), identity

    @staticmethod
    def verify(token: str, *, remembered_key: bool) -> WidgetIdentity:
        try:
            return verify_widget_token(token, remembered_key=remembered_key)
        except InvalidWidgetToken as exc:
            message = REASON_MESSAGES.get(exc.reason, _("The token is invalid."))
            raise AuthenticationFailed(message, code=exc.reason) from exc

    def authenticate_header(self, request):
        return f'{HEADER} realm="amoCRM widget"'


class WidgetTokenScheme(OpenApiAuthenticationExtension):
    """Documents the X-Auth-Token header in the OpenAPI schema."""

    target_class = "integration.widget.auth.WidgetTokenAuthentication"
    name = "amoCRMWidgetToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": HEADER,
                "description": "amoCRM disposable widget token (HS256 JWT; single use unless configured)"}
