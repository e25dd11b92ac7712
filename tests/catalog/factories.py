"""Small builders for catalog rows (tests only)."""

from decimal import Decimal
from itertools import count

from django.utils import timezone

from catalog.models import Batch, KitComponent, Pack, Product, StockLevel, Unit, Warehouse

_seq = count(1)


def unit(okei: str = "796", short: str = "шт") -> Unit:
    return Unit.objects.get_or_create(okei_code=okei, defaults={"name": short, "short_name": short})[0]


def warehouse(name: str | None = None) -> Warehouse:
    n = next(_seq)
    return Warehouse.objects.create(name=name or f"Склад {n}", code=f"W{n}")


def product(article: str | None = None, *, kind: str = "goods", tracking: str = "none", name: str = "",
            okei: str = "796") -> Product:
    n = next(_seq)
    article = article or f"ART-{n}"
    return Product.objects.create(article=article, name=name or f"Товар {article}", unit=unit(okei), kind=kind,
                                  tracking=tracking)


def pack(product: Product, factor: str, okei: str = "778") -> Pack:
    return Pack.objects.create(product=product, unit=unit(okei, "упак"), factor=Decimal(factor))


def kit(*parts: tuple[Product, str], article: str | None = None) -> Product:
    result = product(article, kind="kit", okei="704")
    for component, quantity in parts:
        KitComponent.objects.create(kit=result, component=component, quantity=Decimal(quantity))
    return result


def stock(product: Product, warehouse: Warehouse, on_hand="0", reserved="0", expected="0", *, batch=None,
          snapshot_at=None) -> StockLevel:
    return StockLevel.objects.create(
        product=product, warehouse=warehouse, batch=batch, on_hand=Decimal(on_hand), reserved=Decimal(reserved),
        expected=Decimal(expected), snapshot_at=snapshot_at or timezone.now(),
    )


def batch(product: Product, number: str) -> Batch:
    return Batch.objects.create(product=product, number=number)
