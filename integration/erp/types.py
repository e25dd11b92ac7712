"""What any ERP gives us and takes from us, as frozen dataclasses: money in roubles (Decimal),
quantities in base units (Decimal), aware datetimes. Adapters map their wire formats to these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


class RecordPage(list):
    """A page of typed records (a plain list to its readers) that also names the ERP's rows of that page which
    could not be mapped, each with its field and reason: the importers count them as failures."""

    def __init__(self, records=(), rejected=()):
        super().__init__(records)
        self.rejected: list[str] = list(rejected)


def rejected_of(page: list) -> list[str]:
    """The unmappable rows of a page (none for an adapter that yields plain lists)."""
    return page.rejected if isinstance(page, RecordPage) else []


@dataclass(frozen=True)
class ErpUnit:
    erp_id: str
    okei_code: str
    name: str
    short_name: str


@dataclass(frozen=True)
class ErpCategory:
    erp_id: str
    name: str
    parent_erp_id: str | None = None


@dataclass(frozen=True)
class ErpBarcode:
    value: str
    kind: str = "ean13"


@dataclass(frozen=True)
class ErpPack:
    erp_id: str
    unit_erp_id: str
    factor: Decimal  # base units in one pack
    barcodes: tuple[ErpBarcode, ...] = ()


@dataclass(frozen=True)
class ErpPrice:
    price_list_erp_id: str
    amount: Decimal


@dataclass(frozen=True)
class ErpKitComponent:
    component_erp_id: str
    quantity: Decimal


@dataclass(frozen=True)
class ErpProduct:
    erp_id: str
    article: str
    name: str
    kind: str  # catalog.Product.Kind: goods / service / kit
    unit_erp_id: str | None
    vat_rate: str  # catalog.VatRate value
    category_erp_id: str | None = None
    tracking: str = "none"
    archived: bool = False
    description: str = ""
    barcodes: tuple[ErpBarcode, ...] = ()
    packs: tuple[ErpPack, ...] = ()
    prices: tuple[ErpPrice, ...] = ()
    components: tuple[ErpKitComponent, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ErpPriceList:
    erp_id: str
    name: str
    code: str
    currency: str = "RUB"


@dataclass(frozen=True)
class ErpWarehouse:
    erp_id: str
    name: str
    code: str = ""
    address: str = ""
    archived: bool = False


@dataclass(frozen=True)
class ErpBatch:
    erp_id: str
    product_erp_id: str
    number: str


@dataclass(frozen=True)
class ErpStockRow:
    """One product (or one batch of it) in one warehouse, in base units."""

    product_erp_id: str
    warehouse_erp_id: str
    on_hand: Decimal
    reserved: Decimal
    expected: Decimal
    batch_erp_id: str | None = None


@dataclass(frozen=True)
class ErpStockChange:
    """A current value from an incremental stock report: only the named fields are known."""

    assortment_erp_id: str  # a product or a batch
    warehouse_erp_id: str
    on_hand: Decimal | None = None
    reserved: Decimal | None = None
    expected: Decimal | None = None


@dataclass(frozen=True)
class ErpContactPerson:
    """A contact person of a counterparty in the ERP (phone and e-mail as typed there)."""

    erp_id: str
    name: str
    phone: str = ""
    email: str = ""


@dataclass(frozen=True)
class ErpCounterparty:
    name: str
    kind: str  # counterparties.Counterparty.Kind: legal / entrepreneur / individual
    inn: str = ""
    kpp: str = ""
    ogrn: str = ""
    full_name: str = ""
    legal_address: str = ""
    actual_address: str = ""
    phone: str = ""
    email: str = ""
    erp_id: str | None = None
    updated_at: datetime | None = None
    contacts: tuple[ErpContactPerson, ...] = ()
    price_list_erp_id: str | None = None  # the price type the client buys at (None: the default one)
    archived: bool = False


@dataclass(frozen=True)
class ErpOrganization:
    """Our own legal entity in the ERP (the seller of its orders) and its main bank account."""

    erp_id: str
    name: str
    inn: str
    kind: str = "legal"  # legal | entrepreneur
    kpp: str = ""
    ogrn: str = ""
    address: str = ""
    phone: str = ""
    bank_name: str = ""
    bik: str = ""
    correspondent_account: str = ""
    account: str = ""
    director: str = ""
    accountant: str = ""


@dataclass(frozen=True)
class OrderPushLine:
    """One line we send: quantity, reserve and price per base unit (packs are converted before)."""

    product_erp_id: str
    kind: str  # goods / service / kit
    quantity: Decimal
    price: Decimal
    vat_rate: str
    reserve: Decimal = Decimal("0")
    discount_percent: Decimal = Decimal("0")
    pack_erp_id: str | None = None


@dataclass(frozen=True)
class OrderPush:
    """Our order as the ERP should hold it; `key` (our Order.uuid) is its idempotency key."""

    key: str
    counterparty_erp_id: str
    warehouse_erp_id: str | None
    lines: tuple[OrderPushLine, ...]
    erp_id: str | None = None
    comment: str = ""
    delivery_address: str = ""
    vat_included: bool = True


@dataclass(frozen=True)
class ErpOrderLine:
    erp_line_id: str
    product_erp_id: str
    kind: str
    quantity: Decimal
    price: Decimal
    discount_percent: Decimal
    vat_rate: str
    reserved: Decimal
    shipped: Decimal


@dataclass(frozen=True)
class ErpOrder:
    erp_id: str
    number: str
    external_code: str
    state: str
    state_type: str  # Regular / Successful / Unsuccessful
    updated_at: datetime | None
    counterparty_erp_id: str | None
    warehouse_erp_id: str | None
    total: Decimal
    vat_total: Decimal
    paid_total: Decimal
    shipped_total: Decimal
    lines: tuple[ErpOrderLine, ...] = ()


@dataclass(frozen=True)
class ErpDocumentLine:
    """One row of an ERP document as the ERP holds it: what our VAT maths checks the ERP's totals against."""
    quantity: Decimal
    price: Decimal  # per unit, VAT as the document says (`vat_included`)
    discount_percent: Decimal
    vat_rate: str  # catalog.VatRate value


@dataclass(frozen=True)
class ErpDocument:
    erp_id: str
    kind: str  # documents.Document.Kind
    number: str
    issued_on: date | None
    total: Decimal
    vat_total: Decimal
    order_erp_id: str | None = None
    lines: tuple[ErpDocumentLine, ...] = ()  # empty when the adapter does not read them
    vat_included: bool = True


@dataclass(frozen=True)
class ErpShipmentLine:
    product_erp_id: str
    quantity: Decimal
    price: Decimal | None = None  # per unit as shipped (VAT as the document says); None when the ERP omits it


@dataclass(frozen=True)
class ErpShipment:
    erp_id: str
    number: str
    order_erp_id: str | None
    shipped_at: datetime
    total: Decimal
    lines: tuple[ErpShipmentLine, ...] = field(default_factory=tuple)
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ErpPayment:
    erp_id: str
    number: str
    order_erp_id: str | None
    paid_at: datetime
    amount: Decimal
    purpose: str = ""
    updated_at: datetime | None = None
