"""Our organization from MoySklad: the own legal entity the ERP orders are made for (`entity/organization`,
the one `MoySkladAdapter.organization_id` picks) and its default bank account (`…/{id}/accounts`), stored
as the seller's requisites of the documents rendered here (documents.requisites)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from documents.requisites import forget_erp_organization, save_erp_organization
from documents.types import OrganizationInput
from integration import syncs
from integration.erp.moysklad.adapter import MoySkladAdapter
from integration.errors import PermanentError
from integration.models import Backend, SyncRun
from integration.syncruns import sync_run

KINDS = {"legal": "legal", "entrepreneur": "entrepreneur"}


def organization_input(row: dict, accounts: list[dict]) -> OrganizationInput:
    """MoySklad's organization (and its accounts) → our requisites; the default account, else the first."""
    account = next((a for a in accounts if a.get("isDefault")), accounts[0] if accounts else {})
    kind = KINDS.get(row.get("companyType") or "legal", "legal")
    return OrganizationInput(
        erp_id=row["id"],
        name=(row.get("legalTitle") or row.get("name") or "").strip(),
        inn=row.get("inn") or "",
        kind=kind,
        kpp=(row.get("kpp") or "") if kind == "legal" else "",
        ogrn=(row.get("ogrn") if kind == "legal" else row.get("ogrnip")) or "",
        address=row.get("legalAddress") or row.get("actualAddress") or "",
        phone=row.get("phone") or "",
        bank_name=account.get("bankName") or "",
        bik=account.get("bic") or "",
        correspondent_account=account.get("correspondentAccount") or "",
        account=account.get("accountNumber") or "",
        director=row.get("director") or "",
        accountant=row.get("chiefAccountant") or "",
    )


def fetch_organization(adapter: MoySkladAdapter) -> OrganizationInput:
    """Raises PermanentError when MoySklad has no organization."""
    erp_id = adapter.organization_id()
    row = adapter.client.get(f"entity/organization/{erp_id}")
    accounts = [a for page in adapter.client.iter_pages(f"entity/organization/{erp_id}/accounts") for a in page]
    return organization_input(row, accounts)


@syncs.register("organization", backend_kinds=(Backend.Kind.MOYSKLAD,))
def sync_organization(backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None) -> SyncRun:
    """Fetch our organization's requisites. Without an organization, or with invalid requisites, the run
    fails with the reason and nothing stays stored for this backend (documents then refuse to render)."""
    with sync_run(backend, "organization", full=True, dry_run=dry_run) as run:
        try:
            data = fetch_organization(MoySkladAdapter(backend))
        except PermanentError:
            if not run.dry_run:
                forget_erp_organization(backend)
            raise
        run.details = {"organization": data.name, "inn": data.inn, "has_bank_account": bool(data.account)}
        if run.dry_run:
            run.unchanged = 1
        else:
            try:
                save_erp_organization(backend, data)
            except ValidationError as exc:
                reasons = "; ".join(f"{field}: {' '.join(m)}" for field, m in exc.message_dict.items())
                raise PermanentError(f"organization {data.name!r} ({data.erp_id}): {reasons}") from None
            run.updated = 1
        run.save(update_fields=["details", "updated", "unchanged"])
    return run
