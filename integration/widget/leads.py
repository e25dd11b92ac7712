"""The deals the widget works on. A deal must exist in the token's amoCRM account: asked there once, then the
WidgetLead row (or the order's binding) answers. Its company or contact decides the counterparty — matched by
ИНН+КПП, or phone/e-mail, never duplicated (integration.amocrm.parties) — so the client's prices apply from the
first search and a new deal's cart can go to the ERP at once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound

from counterparties.models import Counterparty
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.deals import products_version
from integration.amocrm.errors import ApiError
from integration.amocrm.mappers import LeadSnapshot, lead_snapshot
from integration.amocrm.parties import resolve_party
from integration.bindings import bind, binding_for, lookup
from integration.errors import IntegrationError
from integration.models import Backend, Binding
from integration.widget.models import WidgetLead
from orders.models import Order

# A deal without a known counterparty is asked about again at most this often (the manager may add a company).
PARTY_RECHECK = timedelta(seconds=30)


class LeadNotFound(NotFound):
    default_detail = _("There is no such deal in this amoCRM account.")
    default_code = "lead_not_found"


class CrmUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("amoCRM cannot be asked about the deal right now; try again in a minute.")
    default_code = "crm_unavailable"
    wait = 60  # Retry-After


@dataclass(frozen=True)
class CheckedLead:
    lead_id: int
    counterparty: Counterparty | None
    problems: str = ""  # why the deal's company or contact gave no counterparty (for the manager)
    snapshot: LeadSnapshot | None = None  # the deal as amoCRM gave it, when it was asked just now


def _survivor(counterparty: Counterparty | None) -> Counterparty | None:
    return counterparty.survivor if counterparty is not None else None


def check_lead(backend: Backend, lead_id: int, *, party: bool = False, fresh: bool = False) -> CheckedLead:
    """The deal `lead_id` of the backend's account, or LeadNotFound / CrmUnavailable. `party`: the counterparty
    is wanted (a deal without one is asked about again after PARTY_RECHECK); `fresh`: ask amoCRM now."""
    known = WidgetLead.objects.filter(backend=backend, lead_id=lead_id).select_related("counterparty").first()
    order = Order.objects.filter(lead_id=lead_id).select_related("counterparty").first()
    if not fresh and (known is not None or (order is not None and lookup(backend, Order, str(lead_id)) == order)):
        counterparty = _survivor(order.counterparty if order is not None and order.counterparty_id
                                 else known.counterparty if known is not None else None)
        recent = known is not None and timezone.now() - known.checked_at < PARTY_RECHECK
        if not party or counterparty is not None or recent:
            return CheckedLead(lead_id, counterparty, known.problems if known is not None else "")
    checked = _ask_crm(backend, lead_id)
    if order is not None and order.counterparty_id:  # the order's client prices its cart: it wins
        return replace(checked, counterparty=_survivor(order.counterparty))
    return checked


def known_client_sql() -> str:
    """The one row known_client decides from (placeholders: known_client_params); the widget search runs it inside
    its page statement (integration.widget.page_rows), so a search for a known deal is one query."""
    widget_lead, order, binding, client = (connection.ops.quote_name(m._meta.db_table)
                                           for m in (WidgetLead, Order, Binding, Counterparty))
    return f"""SELECT w.id AS known, w.checked_at, o.id AS order_id, b.object_id AS bound_id, c.id AS client_id,
            c.merged_into_id AS merged_into
            FROM (SELECT 1) one
            LEFT JOIN {widget_lead} w ON w.backend_id = %(backend)s AND w.lead_id = %(lead)s
            LEFT JOIN {order} o ON o.lead_id = %(lead)s
            LEFT JOIN {binding} b ON b.backend_id = %(backend)s AND b.content_type_id = %(type)s
                                     AND b.external_id = %(external)s
            LEFT JOIN {client} c ON c.id = COALESCE(o.counterparty_id, w.counterparty_id)"""


def known_client_params(backend_id: int, lead_id: int) -> dict:
    return {"backend": backend_id, "lead": lead_id, "type": ContentType.objects.get_for_model(Order).pk,
            "external": str(lead_id)}


def known_client_from(row: tuple) -> tuple[bool, int | None]:
    """known_client's answer from the row of known_client_sql."""
    known, checked_at, order_id, bound_id, client_id, merged_into = row
    if checked_at is not None and timezone.is_naive(checked_at):  # SQLite (the demo) answers naive UTC
        checked_at = timezone.make_aware(checked_at, UTC)
    if known is None and (order_id is None or bound_id != order_id):
        return False, None
    if merged_into is not None:
        return False, None
    recent = known is not None and timezone.now() - checked_at < PARTY_RECHECK
    if client_id is None and not recent:
        return False, None
    return True, client_id


def known_client(backend_id: int, lead_id: int) -> tuple[bool, int | None]:
    """What check_lead(backend, lead_id, party=True) answers as the deal's counterparty id (backend: the one of
    `backend_id`), read in one query when our rows decide it: (True, id or None). (False, None) when check_lead
    must run: the deal is unknown, amoCRM is due to be asked again, or the counterparty was merged (its survivor is
    followed there). The widget search's path: the deal check is most of its queries otherwise."""
    with connection.cursor() as cursor:
        cursor.execute(known_client_sql(), known_client_params(backend_id, lead_id))
        return known_client_from(cursor.fetchone())


def _ask_crm(backend: Backend, lead_id: int) -> CheckedLead:
    client = AmoCrmClient(backend, max_429_retries=1, read_retries=1)  # a person waits: fail fast
    resolution = None
    try:
        raw = client.get_lead(lead_id)
        if raw is None:
            raise LeadNotFound()
        lead = lead_snapshot(raw)
        if lead.company_id:
            resolution = resolve_party(client, backend, "companies", lead.company_id)
        elif lead.main_contact_id:
            resolution = resolve_party(client, backend, "contacts", lead.main_contact_id)
    except ApiError as exc:
        if exc.status in (400, 404):
            raise LeadNotFound() from exc
        raise CrmUnavailable() from exc
    except IntegrationError as exc:
        raise CrmUnavailable() from exc
    counterparty = resolution.counterparty if resolution else None
    problems = "\n".join(resolution.problems) if resolution else ""
    party = ""
    if resolution is not None and resolution.party is not None:
        party = f"{resolution.party.entity}:{resolution.party.id}"
    WidgetLead.objects.update_or_create(backend=backend, lead_id=lead_id, defaults={
        "counterparty": counterparty, "party": party, "problems": problems, "checked_at": timezone.now()})
    return CheckedLead(lead_id, _survivor(counterparty), problems, lead)


def bind_new_order(backend: Backend, order: Order, lead: CheckedLead) -> None:
    """Bind an order the widget created to its deal, with the deal's products as they are now: the lead sync
    then applies only what changes in the deal later (a deal's old products never overwrite the widget's cart)."""
    if lead.snapshot is not None and binding_for(backend, order) is None:
        bind(backend, order, str(lead.lead_id), remote_updated_at=lead.snapshot.updated_at,
             remote_version=products_version(lead.snapshot))
