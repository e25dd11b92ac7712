"""Dataclasses that cross layer boundaries (API, connectors → domain)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class CounterpartyData:
    """Counterparty data as it arrives (CRM, ERP, staff API); `validate_counterparty` returns it normalised.

    `phones` / `emails` None means "leave the existing contacts as they are" on update.
    """

    kind: str
    name: str = ""
    full_name: str = ""
    inn: str = ""
    kpp: str = ""
    ogrn: str = ""
    segment_id: int | None = None
    legal_address: str = ""
    actual_address: str = ""
    erp_id: str | None = None
    crm_id: str | None = None
    phones: tuple[str, ...] | None = ()
    emails: tuple[str, ...] | None = ()
