"""Our company's requisites (the seller on every document rendered here).

The active ERP backend's organization (fetched by its `organization` sync) first, else the requisites
staff entered in the admin; without either, or for an invoice without a bank account, nothing may be
rendered: `MissingRequisites` says why. There is no built-in fallback: a document must never carry
requisites that are not ours.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from .errors import MissingRequisites


@dataclass(frozen=True)
class Supplier:
    name: str
    inn: str
    kpp: str = ""
    ogrn: str = ""
    address: str = ""
    phone: str = ""
    bank_name: str = ""
    bik: str = ""
    correspondent_account: str = ""
    account: str = ""  # расчётный счёт
    director: str = ""
    accountant: str = ""

    @property
    def has_bank(self) -> bool:
        return bool(self.bank_name and self.bik and self.account)


def _as_supplier(org) -> Supplier:
    return Supplier(
        name=org.name, inn=org.inn, kpp=org.kpp, ogrn=org.ogrn, address=org.address, phone=org.phone,
        bank_name=org.bank_name, bik=org.bik, correspondent_account=org.correspondent_account,
        account=org.account, director=org.director, accountant=org.accountant,
    )


def get_supplier(*, needs_bank: bool = False) -> Supplier:
    """Our requisites, or MissingRequisites with the reason (and what to do about it)."""
    from integration import connectors

    from .models import OurOrganization

    erp = connectors.active_erp()
    org = OurOrganization.objects.filter(backend=erp).first() if erp is not None else None
    org = org or OurOrganization.objects.filter(source=OurOrganization.Source.STAFF).first()
    if org is None:
        raise MissingRequisites(
            _("Our organization's requisites are unknown: fetch them from the ERP (the “organization” sync) "
              "or enter them in the admin (Documents → Our organization). Nothing was rendered."),
            field="supplier",
        )
    supplier = _as_supplier(org)
    if needs_bank and not supplier.has_bank:
        raise MissingRequisites(
            _("Our organization “%(name)s” has no bank account (bank, BIK, settlement account): an invoice "
              "cannot be issued. Add the account in the ERP or in the admin (Documents → Our organization).")
            % {"name": supplier.name},
            field="supplier",
        )
    return supplier
