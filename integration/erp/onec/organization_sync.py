"""Our organization from 1C: `Catalog_Организации` (settings `organization_key`, else the first) with its main
bank account (`Catalog_БанковскиеСчетаОрганизаций` → `Catalog_КлассификаторБанков` for БИК and корр. счёт), stored
as the seller's requisites of the documents rendered here. Without the bank catalogs published, no account."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from documents.requisites import forget_erp_organization, save_erp_organization
from documents.types import OrganizationInput
from integration import syncs
from integration.erp.onec.adapter import OneCAdapter
from integration.erp.onec.mappers import ref
from integration.errors import PermanentError
from integration.models import Backend, SyncRun
from integration.syncruns import sync_run

ACCOUNTS = "Catalog_БанковскиеСчетаОрганизаций"
BANKS = "Catalog_КлассификаторБанков"


def fetch_organization(adapter: OneCAdapter) -> OrganizationInput:
    row = adapter.organization()
    account, bank = {}, {}
    if ref(row.get("ОсновнойБанковскийСчет_Key")):
        try:
            account = (adapter.client.by_keys(ACCOUNTS, [row["ОсновнойБанковскийСчет_Key"]]) or [{}])[0]
            if ref(account.get("Банк_Key")):
                bank = (adapter.client.by_keys(BANKS, [account["Банк_Key"]]) or [{}])[0]
        except PermanentError as exc:
            if exc.status != 404:  # the bank catalogs are not in the composition: requisites without an account
                raise
    kind = "entrepreneur" if row.get("ЮрФизЛицо") == "ФизЛицо" else "legal"
    return OrganizationInput(
        erp_id=row["Ref_Key"], name=(row.get("НаименованиеПолное") or row.get("Description") or "").strip(),
        inn=row.get("ИНН") or "", kind=kind, kpp=(row.get("КПП") or "") if kind == "legal" else "",
        ogrn=row.get("ОГРН") or "", address=row.get("ЮридическийАдрес") or "",
        bank_name=bank.get("Description") or "", bik=(bank.get("Code") or "").strip(),
        correspondent_account=bank.get("КоррСчет") or "", account=account.get("НомерСчета") or "")


@syncs.register("organization", backend_kinds=(Backend.Kind.ONEC_ODATA,))
def sync_organization(backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None) -> SyncRun:
    with sync_run(backend, "organization", full=True, dry_run=dry_run) as run:
        try:
            data = fetch_organization(OneCAdapter(backend))
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
