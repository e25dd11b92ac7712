"""Catalog, stock and backend rows for the orders and widget tests."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from catalog.models import Batch, KitComponent, Pack, Price, PriceList, Product, StockLevel, Unit, Warehouse
from integration.models import Backend


def D(value) -> Decimal:
    return Decimal(str(value))


def unit(code: str = "796", short: str = "шт") -> Unit:
    return Unit.objects.get_or_create(okei_code=code, defaults={"name": short, "short_name": short})[0]


def warehouse(name: str = "Main") -> Warehouse:
    return Warehouse.objects.get_or_create(name=name)[0]


def default_price_list() -> PriceList:
    return PriceList.objects.get_or_create(code="retail", defaults={"name": "Retail", "is_default": True})[0]


def product(article: str, *, price=100, kind=Product.Kind.GOODS, tracking=Product.Tracking.NONE,
            vat_rate="22", name: str | None = None, price_list: PriceList | None = None) -> Product:
    item = Product.objects.create(article=article, name=name or f"Product {article}", unit=unit(), kind=kind,
                                  tracking=tracking, vat_rate=vat_rate)
    if price is not None:
        Price.objects.create(product=item, price_list=price_list or default_price_list(), amount=D(price))
    return item


def stock(item: Product, where: Warehouse, on_hand, *, reserved=0, expected=0, batch: Batch | None = None,
          snapshot_at=None) -> StockLevel:
    level, _ = StockLevel.objects.update_or_create(
        product=item, warehouse=where, batch=batch,
        defaults={"on_hand": D(on_hand), "reserved": D(reserved), "expected": D(expected),
                  "snapshot_at": snapshot_at or timezone.now()},
    )
    return level


def pack(item: Product, factor, code: str = "778", short: str = "упак") -> Pack:
    return Pack.objects.create(product=item, unit=unit(code, short), factor=D(factor))


def kit(article: str, parts: list[tuple[Product, object]], *, price=500) -> Product:
    item = product(article, price=price, kind=Product.Kind.KIT)
    for component, quantity in parts:
        KitComponent.objects.create(kit=item, component=component, quantity=D(quantity))
    return item


def batch(item: Product, number: str) -> Batch:
    return Batch.objects.create(product=item, number=number)


def erp_backend(name: str = "ms") -> Backend:
    return Backend.objects.create(name=name, kind=Backend.Kind.MOYSKLAD, base_url="https://api.moysklad.ru/api/remap/1.2/")


def amocrm_backend(name: str = "amo", *, approvers=(), account_id: int = 30441694) -> Backend:
    return Backend.objects.create(
        name=name, kind=Backend.Kind.AMOCRM, base_url="https://demo.amocrm.ru",
        credentials={
            "client_id": "0b0832f6-1d0a-4c71-9a50-4d7c5f1e2a11",
            "client_secret": "s3cr3t-client-secret-for-tests-0123456789",
            "redirect_uri": "https://erp.example.com/hooks/amocrm/oauth/",
        },
        settings={"account_id": account_id, "subdomain": "demo", "approvers": list(approvers)},
    )
