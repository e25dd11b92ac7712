"""Our company's requisites (the seller on every document).

Looked up in this order: the active ERP backend's `settings["organization"]` (the MoySklad sync keeps
the organization there, with the field names of `Supplier`), then `settings.AMOERP["SUPPLIER"]`, then
a clearly fictitious demo company so that a fresh install renders something sensible.
"""

from dataclasses import dataclass, fields

from django.conf import settings

ERP_KINDS = ("moysklad", "onec_odata", "commerceml")


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


DEMO_SUPPLIER = Supplier(
    name="ООО «Демо-Торг»",
    inn="7712345671",
    kpp="771201001",
    ogrn="1027700000001",
    address="123456, г. Москва, ул. Примерная, д. 1, офис 1",
    phone="+7 495 000-00-00",
    bank_name="АО «ДЕМО-БАНК», г. Москва",
    bik="044525000",
    correspondent_account="30101810400000000000",
    account="40702810000000000001",
    director="Иванов И. И.",
    accountant="Петрова П. П.",
)


def _from_mapping(data: dict) -> Supplier | None:
    known = {f.name for f in fields(Supplier)}
    values = {key: str(value) for key, value in data.items() if key in known and value is not None}
    if not values.get("name") or not values.get("inn"):
        return None
    return Supplier(**values)


def get_supplier() -> Supplier:
    from integration.models import Backend

    backend = Backend.objects.filter(kind__in=ERP_KINDS, active=True).order_by("pk").first()
    if backend is not None:
        supplier = _from_mapping(backend.settings.get("organization") or {})
        if supplier is not None:
            return supplier
    return _from_mapping(settings.AMOERP.get("SUPPLIER") or {}) or DEMO_SUPPLIER
