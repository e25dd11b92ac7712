"""Masking of secrets before anything is shown or written: URLs, headers, bodies, credentials."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"

# Names of query parameters, JSON keys, form fields and headers whose values are secrets.
SECRET_NAMES = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "authorization",
        "cookie",
        "set-cookie",
        "x-auth-token",
        "x-api-key",
        "code",
        "secret_key",
        "private_key",
    }
)
# Path segments following one of these are secrets, e.g. /hooks/<secret>/.
SECRET_PATH_PREFIXES = frozenset({"hooks", "hook", "webhooks", "webhook"})

_NAMES_ALTERNATION = "|".join(sorted((re.escape(n) for n in SECRET_NAMES), key=len, reverse=True))
_TEXT_SECRET_RE = re.compile(
    r"""(?P<key>["']?(?:""" + _NAMES_ALTERNATION + r""")["']?\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^"'&\s,;}]+)""",
    re.IGNORECASE,
)
_BEARER_RE = re.compile(r"(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_NAMES or lowered.endswith(("_token", "_secret", "_password"))


def mask_secret(value: object) -> str:
    """A credential shown to staff: the first and the last two characters, `ab…yz`."""
    text = "" if value is None else str(value)
    if not text:
        return ""
    if len(text) <= 6:
        return "…"
    return f"{text[:2]}…{text[-2:]}"


def credential_values(credentials: Mapping | None) -> list[str]:
    """Every string secret in a backend's credentials (long enough to be replaced safely in free text)."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) >= 6:
            found.append(value)

    walk(credentials or {})
    return sorted(set(found), key=len, reverse=True)


def scrub_known(text: str, known: Iterable[str]) -> str:
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def mask_url(url: str, known: Iterable[str] = ()) -> str:
    """The URL with secret query parameters and secret path segments (`/hooks/<secret>/`) masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub_known(url, known)
    segments = parts.path.split("/")
    for index in range(1, len(segments)):
        if segments[index - 1].lower() in SECRET_PATH_PREFIXES and segments[index]:
            segments[index] = REDACTED
    query = parse_qsl(parts.query, keep_blank_values=True)
    masked_query = urlencode(
        [(key, REDACTED if is_secret_name(key) else value) for key, value in query], safe="*"
    )
    netloc = parts.netloc
    if "@" in netloc:  # user:password@host
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    masked = urlunsplit((parts.scheme, netloc, "/".join(segments), masked_query, parts.fragment))
    return scrub_known(masked, known)


def mask_headers(headers: Mapping[str, str] | None, known: Iterable[str] = ()) -> dict[str, str]:
    known = list(known)
    return {
        str(name): REDACTED if is_secret_name(str(name)) else scrub_known(str(value), known)
        for name, value in (headers or {}).items()
    }


def _redact_json(value: object) -> object:
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and is_secret_name(key) else _redact_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact_json(item) for item in value]
    return value


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    """Secrets removed from a body: JSON keys, form fields, `key=value`/`"key": "value"` pairs, bearer tokens."""
    if not text:
        return text
    stripped = text.lstrip()
    redacted: str | None = None
    if stripped[:1] in "{[":
        try:
            redacted = json.dumps(_redact_json(json.loads(text)), ensure_ascii=False)
        except ValueError:
            redacted = None
    if redacted is None and "=" in text and "\n" not in text.strip() and " " not in text.strip():
        pairs = parse_qsl(text, keep_blank_values=True)
        if pairs:
            redacted = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="*")
    if redacted is None:
        redacted = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        redacted = _TEXT_SECRET_RE.sub(lambda m: f"{m['key']}{m['quote']}{REDACTED}", redacted)
    return scrub_known(redacted, known)


def truncate(text: str, limit: int) -> str:
    if limit <= 0 or len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters truncated]"
