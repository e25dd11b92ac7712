"""Where alert messages go: e-mail (Django's mail settings) and Telegram (bot token + chat id). A channel's
failure is recorded with the message and never stops the other channel; the bot token never appears in an
error text or a log."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.mail import send_mail

from .models import AlertSettings

logger = logging.getLogger(__name__)
TELEGRAM_TIMEOUT = 10


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    error: str = ""


def telegram_api_url() -> str:
    return str(settings.AMOERP.get("TELEGRAM_API_URL", "https://api.telegram.org")).rstrip("/")


def send_email(config: AlertSettings, subject: str, text: str) -> Delivery:
    try:
        send_mail(subject, text, None, config.recipients(), fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - SMTP refusals come as many types; recorded, not raised
        logger.warning("alert e-mail failed: %s", exc)
        return Delivery("email", False, f"{type(exc).__name__}: {exc}"[:1000])
    return Delivery("email", True)


def send_telegram(config: AlertSettings, text: str) -> Delivery:
    token = config.telegram_token
    try:
        response = requests.post(
            f"{telegram_api_url()}/bot{token}/sendMessage",
            json={"chat_id": config.telegram_chat_id, "text": text[:4000], "disable_web_page_preview": True},
            timeout=TELEGRAM_TIMEOUT, allow_redirects=False,  # the token is in the path: never to another host
        )
        if response.status_code != 200:
            raise RuntimeError(f"Telegram answered {response.status_code}: {response.text[:300]}")
    except Exception as exc:  # noqa: BLE001 - recorded with the message
        error = f"{type(exc).__name__}: {exc}".replace(token, "***") if token else f"{type(exc).__name__}: {exc}"
        logger.warning("alert Telegram message failed: %s", error)
        return Delivery("telegram", False, error[:1000])
    return Delivery("telegram", True)


def deliver(subject: str, text: str, config: AlertSettings | None = None) -> list[Delivery]:
    """Send on every enabled and configured channel."""
    config = config or AlertSettings.load()
    deliveries = []
    if config.email_enabled and config.recipients():
        deliveries.append(send_email(config, subject, text))
    if config.telegram_enabled and config.telegram_token and config.telegram_chat_id:
        deliveries.append(send_telegram(config, f"{subject}\n\n{text}"))
    return deliveries
