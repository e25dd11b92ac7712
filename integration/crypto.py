"""Secrets at rest: Fernet with the keys of AMOERP_ENCRYPTION_KEYS (the first encrypts, every one decrypts).

Rotation: put a new key first, keep the old ones after it, run `manage.py rotate_keys`, then drop the old keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class UndecryptableSecret(ImproperlyConfigured):
    """A stored secret that no key of AMOERP_ENCRYPTION_KEYS opens (a key was dropped too early)."""


def development_key(secret_key: str) -> str:
    """The DEBUG-only key derived from SECRET_KEY (never used in production: settings refuse to start)."""
    digest = hashlib.sha256(b"amoerp-development-encryption-key:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def check_keys(keys: list[str]) -> list[str]:
    """The keys, each a valid Fernet key; ImproperlyConfigured naming the bad one (by position) otherwise."""
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"AMOERP_ENCRYPTION_KEYS: key #{position} is not a Fernet key (32 url-safe base64 bytes); "
                "generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc
    return keys


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("AMOERP_ENCRYPTION_KEYS is empty: secrets cannot be encrypted.")
    return MultiFernet([Fernet(key) for key in check_keys(list(keys))])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.AMOERP_ENCRYPTION_KEYS))


def encrypt_text(text: str) -> str:
    return fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt_text(token: str) -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise UndecryptableSecret(
            "A stored secret cannot be decrypted with any key of AMOERP_ENCRYPTION_KEYS: keep the old key in the "
            "list (after the new one) until `manage.py rotate_keys` has run."
        ) from exc


def encrypt_json(value: Any) -> str:
    return encrypt_text(json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True))


def decrypt_json(token: str) -> Any:
    return json.loads(decrypt_text(token))


def reencrypt(token: str) -> str:
    """The same secret encrypted with the first key (MultiFernet.rotate)."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise UndecryptableSecret("A stored secret cannot be decrypted with any key of AMOERP_ENCRYPTION_KEYS.") from exc


class EncryptedJSONField(models.TextField):
    """A JSON value stored as one Fernet token: a database dump or a backup shows no secret.

    Not searchable in SQL (every token differs, even for equal values); `dumpdata` writes the token too.
    """

    description = "JSON encrypted at rest (Fernet)"

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt_json(value)

    def to_python(self, value):
        if isinstance(value, str):
            return decrypt_json(value)  # loaddata: the token written by value_to_string
        return value

    def get_prep_value(self, value):
        return None if value is None else encrypt_json(value)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))
