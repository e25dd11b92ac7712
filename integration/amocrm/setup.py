"""Prepare a connected account: our custom fields and the webhook subscription."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from integration.amocrm import mappers as m
from integration.amocrm.catalog_push import prepare_catalog
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.deals import LEAD_FIELDS, lead_field_ids
from integration.backends import ensure_webhook_secret
from integration.models import Backend
from integration.public_url import webhook_base
from integration.secrets import mask_url

WEBHOOK_EVENTS = ["add_lead", "update_lead", "status_lead", "add_company", "update_company", "add_contact",
                  "update_contact"]
COMPANY_FIELDS = [{"code": m.INN, "name": "ИНН", "type": "text", "sort": 510},
                  {"code": m.KPP, "name": "КПП", "type": "text", "sort": 520}]


def webhook_url(backend: Backend, public_url: str | None = None) -> str:
    return webhook_base(public_url) + reverse("amocrm:webhook", kwargs={"secret": backend.webhook_secret})


def prepare_account(backend: Backend, *, public_url: str | None = None, client: AmoCrmClient | None = None
                    ) -> dict[str, Any]:
    """Create the company (ИНН, КПП) and lead fields we need, subscribe our webhook, remember what amoCRM says
    about its webhooks (the dashboard shows a disabled one). Safe to run again."""
    webhook_base(public_url)  # a loopback URL in production is refused before anything is changed
    client = client or AmoCrmClient(backend)
    company_fields = client.ensure_custom_fields("companies", COMPANY_FIELDS)
    prepare_catalog(backend, client=client)
    lead_fields = lead_field_ids(client, refresh=True)
    ensure_webhook_secret(backend)
    destination = webhook_url(backend, public_url)
    client.register_webhook(destination, WEBHOOK_EVENTS)
    # Settings are shown to operators and kept in history: the destinations are stored with the secret masked.
    hooks = [{"destination": mask_url(str(h["destination"])), "disabled": bool(h.get("disabled"))}
             for h in client.webhooks()]
    backend.settings["webhooks"] = hooks
    Backend.objects.filter(pk=backend.pk).update(settings=backend.settings)
    return {"company_fields": sorted(company_fields), "lead_fields": sorted(lead_fields),
            "webhook": mask_url(destination),
            "lead_field_codes": [f["code"] for f in LEAD_FIELDS]}
