"""Load the demo company straight into the local database (the offline path; idempotent)."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from catalog.models import (
    Barcode,
    Batch,
    Category,
    KitComponent,
    Pack,
    Price,
    PriceList,
    Product,
    Segment,
    StockLevel,
    Unit,
    Warehouse,
)
from counterparties.models import Counterparty, Email, Phone
from counterparties.validators import normalize_email, normalize_phone, validate_requisites
from integration.sandbox.demo_company import DemoCompany, demo_company


class Command(BaseCommand):
    help = "Load the demo electrical-goods distributor (products, stock, prices, counterparties). Idempotent."

    def handle(self, *args, **options):
        with transaction.atomic():
            counts = load_company(demo_company())
        for label, count in counts.items():
            self.stdout.write(f"  {label}: {count} created")
        if any(counts.values()):
            self.stdout.write(self.style.SUCCESS(f"demo company loaded: {sum(counts.values())} rows created"))
        else:
            self.stdout.write("demo company already loaded: nothing changed")


def _create_missing(model, records: list, key, *, history: bool = False) -> int:
    """bulk_create the records whose natural key is not in the table yet (rows a sync already created are
    kept as they are); returns how many were created."""
    existing = set(model._default_manager.values_list(*key.fields, flat=len(key.fields) == 1) if key.fields else ())
    missing = [r for r in records if key(r) not in existing]
    if history:
        bulk_create_with_history(missing, model, batch_size=1000, default_change_reason="demo company")
    else:
        model.objects.bulk_create(missing, batch_size=1000)
    return len(missing)


class _Key:
    def __init__(self, *fields: str):
        self.fields = fields

    def __call__(self, obj):
        values = tuple(getattr(obj, f) for f in self.fields)
        return values[0] if len(values) == 1 else values


def load_company(company: DemoCompany) -> dict[str, int]:
    counts: dict[str, int] = {}
    counts["units"] = _create_missing(
        Unit, [Unit(okei_code=u.okei_code, name=u.name, short_name=u.short_name) for u in company.units],
        _Key("okei_code"))
    counts["categories"] = _create_missing(
        Category, [Category(erp_id=c.erp_id, name=c.name) for c in company.categories], _Key("erp_id"))
    counts["warehouses"] = _create_missing(
        Warehouse, [Warehouse(erp_id=w.erp_id, code=w.code, name=w.name, address=w.address)
                    for w in company.warehouses], _Key("name"))
    counts["price lists"] = _create_missing(
        PriceList, [PriceList(erp_id=p.erp_id, code=p.code, name=p.name, currency=p.currency, is_default=n == 0)
                    for n, p in enumerate(company.price_lists)], _Key("code"))
    price_lists = dict(PriceList.objects.values_list("code", "id"))
    counts["segments"] = _create_missing(
        Segment, [Segment(code=s.code, name=s.name, price_list_id=price_lists[s.price_list_code])
                  for s in company.segments], _Key("code"), history=True)

    units = dict(Unit.objects.values_list("okei_code", "id"))
    categories = dict(Category.objects.values_list("erp_id", "id"))
    counts["products"] = _create_missing(
        Product,
        [Product(erp_id=p.erp_id, article=p.article, name=p.name, category_id=categories[p.category_erp_id],
                 unit_id=units[p.unit_okei], kind=p.kind, vat_rate=p.vat_rate, tracking=p.tracking)
         for p in company.products],
        _Key("article"), history=True)
    products = dict(Product.objects.values_list("article", "id"))

    counts["barcodes"] = _create_missing(
        Barcode, [Barcode(product_id=products[p.article], value=b) for p in company.products for b in p.barcodes],
        _Key("value"))
    counts["packs"] = _create_missing(
        Pack, [Pack(product_id=products[p.article], unit_id=units[k.unit_okei], factor=k.factor, barcode=k.barcode)
               for p in company.products for k in p.packs], _Key("product_id", "unit_id"))
    counts["kit components"] = _create_missing(
        KitComponent, [KitComponent(kit_id=products[p.article], component_id=products[a], quantity=q)
                       for p in company.products for a, q in p.components], _Key("kit_id", "component_id"))
    counts["batches"] = _create_missing(
        Batch, [Batch(product_id=products[p.article], number=b.number, expires_on=b.expires_on, erp_id=b.erp_id)
                for p in company.products for b in p.batches], _Key("erp_id"))
    counts["prices"] = _create_missing(
        Price, [Price(product_id=products[p.article], price_list_id=price_lists[code], amount=amount)
                for p in company.products for code, amount in p.prices], _Key("product_id", "price_list_id"))

    warehouses = dict(Warehouse.objects.values_list("name", "id"))
    warehouses = {w.code: warehouses[w.name] for w in company.warehouses}
    batches = {(pid, number): bid for bid, pid, number in Batch.objects.values_list("id", "product_id", "number")}
    now = timezone.now()
    stock = []
    for s in company.stock:
        pid = products[s.product_article]
        stock.append(StockLevel(
            product_id=pid, warehouse_id=warehouses[s.warehouse_code],
            batch_id=batches[(pid, s.batch_number)] if s.batch_number else None,
            on_hand=s.on_hand, reserved=s.reserved, expected=s.expected, snapshot_at=now))
    counts["stock levels"] = _create_missing(StockLevel, stock, _Key("product_id", "warehouse_id", "batch_id"))

    segments = dict(Segment.objects.values_list("code", "id"))
    rows = []
    for c in company.counterparties:
        requisites = validate_requisites(c.kind, inn=c.inn, kpp=c.kpp, ogrn=c.ogrn)
        rows.append(Counterparty(
            erp_id=c.erp_id, kind=c.kind, name=c.name, full_name=c.full_name, segment_id=segments.get(c.segment_code),
            legal_address=c.legal_address, actual_address=c.actual_address, **requisites))
    counts["counterparties"] = _create_missing(Counterparty, rows, _Key("erp_id"), history=True)
    ids = dict(Counterparty.objects.filter(erp_id__in=[c.erp_id for c in company.counterparties])
               .values_list("erp_id", "id"))
    counts["phones"] = _create_missing(
        Phone, [Phone(counterparty_id=ids[c.erp_id], number=normalize_phone(raw), raw=raw, is_primary=n == 0)
                for c in company.counterparties for n, raw in enumerate(c.phones)], _Key("counterparty_id", "number"))
    counts["e-mails"] = _create_missing(
        Email, [Email(counterparty_id=ids[c.erp_id], address=normalize_email(a), is_primary=n == 0)
                for c in company.counterparties for n, a in enumerate(c.emails)], _Key("counterparty_id", "address"))
    return counts
