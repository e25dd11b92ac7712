"""Masking of secrets before anything is shown or written: URLs, headers, bodies, credentials."""

from __future__ import annotations

import json
import logging
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
# Path segments following one of these are secrets, e.g. /hooks/<secret>/ ...
SECRET_PATH_PREFIXES = frozenset({"hooks", "hook", "webhooks", "webhook"})
# ... unless the segment names a webhook source: then the next one is the secret, /hooks/<source>/<secret>/,
# except for the source's fixed routes.
WEBHOOK_SOURCES = frozenset({"amocrm", "moysklad", "onec_odata", "commerceml"})
FIXED_HOOK_ROUTES = frozenset({"oauth"})

_NAMES_ALTERNATION = "|".join(sorted((re.escape(n) for n in SECRET_NAMES), key=len, reverse=True))
# `key: value` / `"key": "value"` / `key=value` in free text, JSON (even cut short) or a form body. The key is a
# whole word (a secret name, or `<prefix>_<secret name>`); a quoted value runs to its closing quote or to the end
# of the text (a value cut by truncation is still masked).
_TEXT_SECRET_RE = re.compile(
    r"""(?P<key>(?<![\w-])\\?["']?(?:[\w-]*_)?(?:""" + _NAMES_ALTERNATION + r""")(?![\w-])\\?["']?\s*[:=]\s*)"""
    r"""(?P<value>\\?"(?:[^"\\]|\\.)*(?:"|\\?$)|\\?'(?:[^'\\]|\\.)*(?:'|\\?$)|[^"'&\s,;{}\[\]]+)""",
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
        if segments[index - 1].lower() not in SECRET_PATH_PREFIXES or not segments[index]:
            continue
        if segments[index].lower() not in WEBHOOK_SOURCES:
            segments[index] = REDACTED
        elif index + 1 < len(segments) and segments[index + 1] and segments[index + 1].lower() not in FIXED_HOOK_ROUTES:
            segments[index + 1] = REDACTED
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
        redacted = redact_pairs(text)
    return scrub_known(redacted, known)


def _masked_value(match: re.Match) -> str:
    value = match["value"]
    quote = value.lstrip("\\")[:1]
    if quote in ("'", '"'):
        prefix = value[: value.index(quote) + 1]
        return f"{match['key']}{prefix}{REDACTED}{prefix}"
    return f"{match['key']}{REDACTED}"


def redact_pairs(text: str) -> str:
    """Bearer/Basic credentials and secret `key: value` pairs masked by text rules alone: works on a body cut
    short (invalid JSON, a half form) and costs one pass over the text."""
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _TEXT_SECRET_RE.sub(_masked_value, text)


def scrub_cut_known(text: str, known: Iterable[str], keep: int = 3) -> str:
    """Mask a known secret cut by truncation: the text's tail is a prefix (longer than `keep`) of one."""
    for value in known:
        for length in range(min(len(value) - 1, len(text)), keep, -1):
            if text.endswith(value[:length]):
                return f"{text[:-length]}{REDACTED}"
    return text


def clip(text: str, limit: int) -> tuple[str, int]:
    """The first `limit` characters of `text` and how many were dropped."""
    if limit <= 0 or len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def truncation_marker(dropped: int) -> str:
    return f"… [{dropped} more characters truncated]" if dropped else ""


def redact_clipped(text: str, limit: int, known: Iterable[str] = ()) -> str:
    """Truncate first, then redact what is kept (a whole megabyte body is never parsed): a secret cut at the
    boundary is masked too. Ends with a marker of how much was dropped."""
    known = list(known)
    head, dropped = clip(text, limit)
    if not dropped:
        return redact_text(head, known)
    masked = scrub_cut_known(scrub_known(redact_pairs(head), known), known)
    return f"{masked}{truncation_marker(dropped)}"


def truncate(text: str, limit: int) -> str:
    head, dropped = clip(text, limit)
    return f"{head}{truncation_marker(dropped)}"


# A webhook path in free text (a log line): /hooks/<secret>/ or /hooks/<source>/<secret>/, fixed routes left alone.
_HOOK_PATH_RE = re.compile(
    r"(?P<prefix>/(?:" + "|".join(sorted(SECRET_PATH_PREFIXES)) + r")/"
    r"(?:(?:" + "|".join(sorted(WEBHOOK_SOURCES)) + r")/)?)"
    r"(?P<secret>[^/\s?#\"']+)",
    re.IGNORECASE,
)


def mask_paths(text: str) -> str:
    """Webhook secrets in the paths of a free text (a request log line), and bearer credentials, masked."""

    def masked(match: re.Match) -> str:
        secret = match["secret"]
        if secret.lower() in FIXED_HOOK_ROUTES or secret.lower() in WEBHOOK_SOURCES:
            return match.group(0)
        return f"{match['prefix']}{REDACTED}"

    return _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", _HOOK_PATH_RE.sub(masked, text))


def _masked_arg(value: object) -> object:
    return mask_paths(value) if isinstance(value, str) else value


class MaskSecretsFilter(logging.Filter):
    """A logging filter: webhook path secrets masked in the message and its arguments (runserver's request line,
    `django.request`'s "Not Found: /hooks/…", gunicorn's access atoms). Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_paths(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _masked_arg(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_masked_arg(value) for value in record.args)
        return True
