"""A 1C (CommerceML) backend's exchange settings: the secret URL part, the login and the password 1C sends.

The password is kept only as a Django password hash, and the hash and the URL secret live in the backend's
encrypted credentials; the login and the tuning knobs are plain settings.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.hashers import check_password, make_password
from django.utils.crypto import constant_time_compare

from integration.models import Backend

DEFAULT_FILE_LIMIT = 1024 * 1024  # bytes per `file` POST that we ask 1C for
DEFAULT_BUDGET_SECONDS = 20.0  # how long one `import` call may wait for the import before answering `progress`
ENCODINGS = ("utf-8", "windows-1251")


@dataclass(frozen=True)
class ExchangeConfig:
    login: str
    file_limit: int
    zip: bool
    encoding: str  # of our answers
    budget_seconds: float
    secret: str
    password_hash: str


def exchange_config(backend: Backend) -> ExchangeConfig:
    settings, credentials = backend.settings or {}, backend.credentials or {}
    encoding = str(settings.get("exchange_encoding") or "utf-8").lower()
    return ExchangeConfig(
        login=str(settings.get("exchange_login") or ""),
        file_limit=int(settings.get("exchange_file_limit") or DEFAULT_FILE_LIMIT),
        zip=bool(settings.get("exchange_zip", True)),
        encoding=encoding if encoding in ENCODINGS else "utf-8",
        budget_seconds=float(settings.get("exchange_budget_seconds", DEFAULT_BUDGET_SECONDS)),
        secret=str(credentials.get("exchange_secret") or ""),
        password_hash=str(credentials.get("exchange_password_hash") or ""),
    )


def configure_exchange(backend: Backend, *, login: str, password: str | None = None, secret: str | None = None,
                       **settings) -> str:
    """Set the login (and a new password, hashed) and make sure the backend has a URL secret; returns it.
    `settings`: exchange_file_limit, exchange_zip, exchange_encoding, exchange_budget_seconds."""
    credentials = dict(backend.credentials or {})
    if password is not None:
        credentials["exchange_password_hash"] = make_password(password)
    credentials["exchange_secret"] = secret or credentials.get("exchange_secret") or secrets.token_urlsafe(24)
    backend.credentials = credentials
    backend.settings = {**(backend.settings or {}), "exchange_login": login, **settings}
    backend.save(update_fields=["credentials", "settings", "updated_at"])
    return credentials["exchange_secret"]


def backend_for_secret(secret: str) -> Backend | None:
    """The active 1C (CommerceML) backend whose URL secret this is (compared in constant time)."""
    found = None
    for backend in Backend.objects.filter(kind=Backend.Kind.ONEC_CML, active=True):
        own = exchange_config(backend).secret
        if own and constant_time_compare(own, secret):
            found = backend
    return found


def login_matches(config: ExchangeConfig, login: str, password: str) -> bool:
    ok_password = bool(config.password_hash) and check_password(password, config.password_hash)
    return ok_password and constant_time_compare(config.login, login)


def exchange_path(backend: Backend) -> str:
    """The path 1C is given (the admin shows it with the site's address in front)."""
    return f"/exchange/1c/{exchange_config(backend).secret}/"
