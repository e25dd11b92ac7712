"""amoCRM companies/contacts ↔ counterparties: matched by ИНН+КПП (legal), ИНН (ИП), phone or e-mail (people).

The integration never creates a duplicate: a bound counterparty is used as is, otherwise the natural key is
looked up (counterparties.matching.find_match) and only a counterparty nobody has yet is created. Requisites
that fail validation are returned as problems for the manager (a note in the deal), and nothing is created.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from counterparties.actions import create_counterparty, validate_counterparty
from counterparties.matching import find_match
from counterparties.models import Counterparty
from counterparties.types import CounterpartyData
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.mappers import PartySnapshot, party_kind, party_snapshot
from integration.bindings import bind, lookup
from integration.models import Backend


@dataclass
class PartyResolution:
    counterparty: Counterparty | None
    party: PartySnapshot | None = None
    problems: list[str] = field(default_factory=list)
    created: bool = False


def counterparty_data(party: PartySnapshot) -> CounterpartyData:
    kind = party_kind(party)
    return CounterpartyData(
        kind=kind, name=party.name, inn=party.inn, kpp=party.kpp if kind == Counterparty.Kind.LEGAL else "",
        actual_address=party.address, phones=party.phones, emails=party.emails)


def describe_problems(party: PartySnapshot, error: ValidationError) -> list[str]:
    label = _("Company") if party.entity == "companies" else _("Contact")
    return [_("%(label)s «%(name)s»: %(message)s") % {"label": label, "name": party.name or party.id, "message": message}
            for message in error.messages]


def resolve_party(client: AmoCrmClient, backend: Backend, entity: str, entity_id: int, *,
                  create: bool = True, raw: dict | None = None) -> PartyResolution:
    """The counterparty behind an amoCRM company or contact (re-read through the API unless `raw` is that read)."""
    raw = raw if raw is not None else client.get_entity(entity, entity_id)
    if raw is None:
        return PartyResolution(None)
    party = party_snapshot(entity, raw)
    external_id = f"{entity}:{party.id}"
    bound = lookup(backend, Counterparty, external_id)
    data = counterparty_data(party)
    try:
        clean = validate_counterparty(data)
    except ValidationError as exc:
        return PartyResolution(bound.survivor if bound else None, party, describe_problems(party, exc))
    if bound is not None:
        return PartyResolution(bound.survivor, party)
    match = find_match(clean)
    created = False
    if match is None and create:
        try:
            match = create_counterparty(clean, reason="amoCRM")
            created = True
        except ValidationError:
            match = find_match(clean)  # created by someone else meanwhile: use it, never a second one
    if match is not None:
        bind(backend, match, external_id, remote_updated_at=party.updated_at)
    return PartyResolution(match, party, created=created)
