"""Which configuration the publication serves (УТ 11 / КА 2 / ERP 2) and what it lacks, read from `$metadata`.

The profile is stored on the backend (`settings["onec_profile"]`) and shown to staff; a publication missing an
entity set the platform needs fails with one error naming every set to add to the OData composition.
Fingerprints (reference §1.4): ERP 2 has its production documents; КА 2 adds payroll (`Document_НачислениеЗарплаты`,
an assumption: no source lists КА 2's sets); otherwise УТ 11. Pricing and VAT are detected from the sets and
properties themselves, not from the product name (additions §0.9).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integration.errors import PermanentError
from integration.models import Backend

PRICES_NEW = "InformationRegister_ЦеныНоменклатуры25"
PRICES_OLD = "InformationRegister_ЦеныНоменклатуры"
FREE_STOCK = "AccumulationRegister_СвободныеОстатки"
KITS = "Catalog_ВариантыКомплектацииНоменклатуры"
CASH = "Document_ПриходныйКассовыйОрдер"
EXPECTED = "AccumulationRegister_ЗаказыПоставщикам"
REQUIRED = (
    "Catalog_Номенклатура",
    "Catalog_УпаковкиЕдиницыИзмерения",
    "InformationRegister_ШтрихкодыНоменклатуры",
    "Catalog_ВидыЦен",
    "Catalog_Склады",
    "AccumulationRegister_ТоварыНаСкладах",
    "Catalog_Партнеры",
    "Catalog_Контрагенты",
    "Catalog_Организации",
    "Catalog_СоглашенияСКлиентами",
    "Document_ЗаказКлиента",
    "Document_СчетНаОплатуКлиенту",
    "Document_РеализацияТоваровУслуг",
    "Document_ПоступлениеБезналичныхДенежныхСредств",
)
OPTIONAL = (FREE_STOCK, KITS, CASH, EXPECTED, "Catalog_СтавкиНДС")
PROFILE_NAMES = {"ut11": "УТ 11", "ka2": "КА 2", "erp2": "ERP 2"}
EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"


class MissingEntitySets(PermanentError):
    """The publication lacks entity sets the platform needs (they must be added to the OData composition)."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(str(_("Add to the OData composition of the 1C publication: %(sets)s")
                             % {"sets": ", ".join(missing)}))


@dataclass(frozen=True)
class Profile:
    name: str  # ut11 / ka2 / erp2
    prices: str  # the price register's entity set
    vat_by_ref: bool  # СтавкаНДС_Key (catalog) rather than the СтавкаНДС enum
    free_stock: bool  # AccumulationRegister_СвободныеОстатки is published
    kits: bool
    cash: bool
    expected: bool
    entity_sets: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return PROFILE_NAMES.get(self.name, self.name)

    def as_setting(self) -> dict:
        data = asdict(self)
        data.pop("entity_sets")
        return {**data, "title": self.title, "detected_at": timezone.now().isoformat()}


def parse_metadata(xml: str) -> tuple[set[str], dict[str, set[str]]]:
    """(entity set names, entity type name → its property names) of an EDMX document."""
    root = ET.fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml)  # noqa: S314 - our backend's EDMX
    sets = {node.get("Name", "") for node in root.iter(f"{EDM}EntitySet")}
    types = {node.get("Name", ""): {p.get("Name", "") for p in node.iter(f"{EDM}Property")}
             for node in root.iter(f"{EDM}EntityType")}
    return sets, types


def missing_sets(sets: set[str]) -> list[str]:
    missing = [name for name in REQUIRED if name not in sets]
    if PRICES_NEW not in sets and PRICES_OLD not in sets:
        missing.append(f"{PRICES_NEW} (или {PRICES_OLD})")
    return missing


def detect_profile(xml: str) -> Profile:
    sets, types = parse_metadata(xml)
    missing = missing_sets(sets)
    if missing:
        raise MissingEntitySets(missing)
    if "Document_ВыпускПродукции" in sets or "Document_ЗаказНаПроизводство" in sets:
        name = "erp2"
    elif "Document_НачислениеЗарплаты" in sets:
        name = "ka2"
    else:
        name = "ut11"
    product = types.get("Catalog_Номенклатура", set())
    return Profile(
        name=name,
        prices=PRICES_NEW if PRICES_NEW in sets else PRICES_OLD,
        vat_by_ref="СтавкаНДС_Key" in product and "Catalog_СтавкиНДС" in sets,
        free_stock=FREE_STOCK in sets,
        kits=KITS in sets,
        cash=CASH in sets,
        expected=EXPECTED in sets,
        entity_sets=tuple(sorted(sets)),
    )


def profile_from_settings(backend: Backend) -> Profile | None:
    stored = (backend.settings or {}).get("onec_profile")
    if not isinstance(stored, dict):
        return None
    fields = {k: stored[k] for k in ("name", "prices", "vat_by_ref", "free_stock", "kits", "cash", "expected")
              if k in stored}
    return Profile(**fields) if len(fields) == 7 else None


def store_profile(backend: Backend, profile: Profile) -> None:
    backend.settings = {**(backend.settings or {}), "onec_profile": profile.as_setting()}
    Backend.objects.filter(pk=backend.pk).update(settings=backend.settings)
