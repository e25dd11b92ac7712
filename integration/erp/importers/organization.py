"""Our organization from the ERP (any adapter's `fetch_organization`), stored as the seller's requisites of the
documents rendered here (documents.requisites)."""

from __future__ import annotations

from dataclasses import asdict

from django.core.exceptions import ValidationError

from documents.requisites import forget_erp_organization, save_erp_organization
from documents.types import OrganizationInput
from integration.erp.importers.catalog import erp_adapter
from integration.errors import PermanentError
from integration.models import Backend, SyncRun
from integration.syncruns import sync_run


def sync_organization(backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None) -> SyncRun:
    """Fetch our organization's requisites. Without an organization, or with invalid requisites, the run
    fails with the reason and nothing stays stored for this backend (documents then refuse to render)."""
    with sync_run(backend, "organization", full=True, dry_run=dry_run) as run:
        try:
            data = OrganizationInput(**asdict(erp_adapter(backend).fetch_organization()))
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
