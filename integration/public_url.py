"""Our public base URL (AMOERP_PUBLIC_URL): where amoCRM and the ERP send webhooks. In production it must be an
absolute http(s) URL that is not a loopback address: a webhook registered to 127.0.0.1 never arrives."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _

from integration.errors import PermanentError

SETTING = "AMOERP_PUBLIC_URL"


class PublicUrlError(PermanentError):
    """AMOERP_PUBLIC_URL (or an explicit public URL) cannot receive webhooks; `reason` says why."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{SETTING}: {url!r} {reason}")
        self.field = SETTING
        self.url = url
        self.reason = reason


def is_loopback(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_public_url(url: str, *, allow_loopback: bool) -> str:
    """The URL without its trailing slash, or PublicUrlError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise PublicUrlError(url, _("is not an absolute http(s) URL, e.g. https://amoerp.example.com"))
    if not allow_loopback and is_loopback(parts.hostname):
        raise PublicUrlError(url, _("is a loopback address: amoCRM and the ERP cannot reach it (DEBUG is off)"))
    return url.strip().rstrip("/")


def webhook_base(public_url: str | None = None) -> str:
    """The base our webhook URLs are built on: `public_url` or the setting, checked (loopback only in DEBUG)."""
    from django.conf import settings

    return check_public_url(public_url or settings.AMOERP.get("PUBLIC_URL") or "",
                            allow_loopback=bool(settings.AMOERP.get("LOOPBACK_WEBHOOKS")))
