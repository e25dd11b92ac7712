"""amoCRM widget disposable tokens (`X-Auth-Token`): HS256 JWTs signed with the integration's client secret.

Verification follows the official SDK (signature, audience = scheme://host of our redirect_uri, time window)
plus our own hardening: the account must be an active amoCRM backend and `client_uuid` must be its client_id.

What verifying needs of the account's backend (its id, secret, client id, audience) can be kept per process for
KEY_TTL seconds (`remembered_key=True`): the widget's every request verifies a token, and reading and decrypting
the backend was a query and a fifth of a search request's Python time. The caller then confirms that the backend
is still active in a statement it makes anyway (integration.widget.auth: with the token's jti). A token that
fails with a kept key is checked again with a fresh one (the secret may have just been changed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import urlsplit

import jwt
from django.db.models import Q

from integration.amocrm.errors import InvalidWidgetToken
from integration.models import Backend
from integration.remembered import forget, remembered

__all__ = ["InvalidWidgetToken", "WidgetIdentity", "audience_for", "mint_widget_token", "verify_widget_token"]

ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
DEFAULT_LIFETIME = 1800  # amoCRM issues 30-minute tokens
KEY_TTL = 30.0  # seconds a process keeps an account's verification key (secret, client id, audience)
KEY = "widget-token-key"
AGAIN_WITH_FRESH_KEY = {"bad_signature", "wrong_audience", "wrong_client"}


@dataclass(frozen=True)
class WidgetIdentity:
    backend_id: int
    account_id: int
    user_id: int
    jti: str
    expires_at: datetime
    is_admin: bool
    subdomain: str

    @cached_property
    def backend(self) -> Backend:
        """The account's backend, read when first asked for (the search needs only its id)."""
        return Backend.objects.get(pk=self.backend_id)


@dataclass(frozen=True)
class VerificationKey:
    """What verifying a token of one account needs of its backend."""

    backend_id: int
    secret: str
    client_id: str
    audience: str


def audience_for(backend: Backend) -> str:
    """scheme://host[:port] of the backend's redirect_uri — what amoCRM puts into `aud`."""
    redirect_uri = backend.credentials.get("redirect_uri") or ""
    parts = urlsplit(redirect_uri)
    if not parts.scheme or not parts.netloc:
        raise InvalidWidgetToken("misconfigured", f"backend {backend.name} has no valid credentials.redirect_uri")
    return f"{parts.scheme}://{parts.netloc}"


def _find_backend(account_id) -> Backend:
    if account_id in (None, ""):
        raise InvalidWidgetToken("unknown_account", "the token carries no account_id")
    # Matched in the database (the id is stored as a number or a string): loading every amoCRM backend would
    # decrypt each one's credentials on every widget request.
    same = Q(settings__account_id=str(account_id))
    if str(account_id).isdigit():
        same |= Q(settings__account_id=int(account_id))
    backend = Backend.objects.filter(same, kind=Backend.Kind.AMOCRM, active=True).order_by("pk").first()
    if backend is not None:
        return backend
    raise InvalidWidgetToken("unknown_account", f"no active amoCRM backend for account {account_id}")


def _read_key(account_id) -> VerificationKey:
    backend = _find_backend(account_id)
    secret = backend.credentials.get("client_secret") or ""
    if not secret:
        raise InvalidWidgetToken("misconfigured", f"backend {backend.name} has no client_secret")
    return VerificationKey(backend.pk, secret, str(backend.credentials.get("client_id") or ""), audience_for(backend))


def forget_keys() -> None:
    """Drop the verification keys this process keeps (a kept one named a backend found inactive or gone)."""
    forget(KEY)


def _claims(token: str, key: VerificationKey) -> dict:
    try:
        claims = jwt.decode(
            token,
            key.secret,
            algorithms=[ALGORITHM],
            audience=key.audience,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "nbf", "aud", "account_id", "user_id"]},
        )
    except jwt.InvalidSignatureError as exc:
        raise InvalidWidgetToken("bad_signature", str(exc)) from exc
    except jwt.ExpiredSignatureError as exc:
        raise InvalidWidgetToken("expired", str(exc)) from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidWidgetToken("not_yet_valid", str(exc)) from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidWidgetToken("wrong_audience", str(exc)) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidWidgetToken("missing_claim", str(exc)) from exc
    except jwt.PyJWTError as exc:
        raise InvalidWidgetToken("invalid", str(exc)) from exc
    if key.client_id and claims.get("client_uuid") != key.client_id:
        raise InvalidWidgetToken("wrong_client", "client_uuid does not match the integration's client_id")
    return claims


def verify_widget_token(token: str, *, remembered_key: bool = False) -> WidgetIdentity:
    """Verify an X-Auth-Token and return who is calling; raises InvalidWidgetToken(reason). `remembered_key`:
    the account's key may come from this process's memory — the caller must then confirm that identity.backend_id
    is still an active backend (and call forget_keys, then verify again without, when it is not)."""
    if not token:
        raise InvalidWidgetToken("missing", "no X-Auth-Token header")
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidWidgetToken("malformed", str(exc)) from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidWidgetToken("bad_algorithm", f"expected {ALGORITHM}, got {header.get('alg')}")
    account = unverified.get("account_id")
    if not remembered_key:
        key = _read_key(account)
        claims = _claims(token, key)
    else:
        key = remembered((KEY, str(account)), lambda: _read_key(account), ttl=KEY_TTL)
        try:
            claims = _claims(token, key)
        except InvalidWidgetToken as exc:
            if exc.reason not in AGAIN_WITH_FRESH_KEY:
                raise
            key = remembered((KEY, str(account)), lambda: _read_key(account), ttl=KEY_TTL, again=True)
            claims = _claims(token, key)
    try:
        user_id = int(claims["user_id"])
        account_id = int(claims["account_id"])
    except (TypeError, ValueError) as exc:
        raise InvalidWidgetToken("invalid", "account_id and user_id must be integers") from exc
    return WidgetIdentity(
        backend_id=key.backend_id,
        account_id=account_id,
        user_id=user_id,
        jti=str(claims.get("jti") or ""),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
        is_admin=bool(claims.get("is_admin", False)),
        subdomain=str(claims.get("subdomain") or ""),
    )


def subdomain_of(backend: Backend) -> str:
    return backend.settings.get("subdomain") or (urlsplit(backend.base_url).hostname or "").split(".")[0]


def mint_widget_token(backend: Backend, user_id: int, *, lifetime: int = DEFAULT_LIFETIME, **claims) -> str:
    """Sign a token the way amoCRM does (for the sandbox, tests and the demo); `claims` override the defaults."""
    now = int(datetime.now(tz=UTC).timestamp())
    subdomain = subdomain_of(backend)
    payload = {
        "iss": backend.base_url.rstrip("/") or f"https://{subdomain}.amocrm.ru",
        "aud": audience_for(backend),
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "account_id": int(backend.settings["account_id"]),
        "user_id": int(user_id),
        "subdomain": subdomain,
        "client_uuid": backend.credentials.get("client_id", ""),
        "is_admin": False,
    }
    payload.update(claims)
    return jwt.encode(payload, backend.credentials["client_secret"], algorithm=ALGORITHM)
