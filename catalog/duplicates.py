"""Duplicate products: a barcode shared by several products, or one name and unit under several articles."""

import re
from collections import defaultdict
from dataclasses import dataclass

from .models import Barcode, Pack, Product


@dataclass(frozen=True)
class ProductDuplicateGroup:
    reason: str  # "barcode" or "name_unit"
    key: str
    product_ids: tuple[int, ...]


def normalize_name(name: str) -> str:
    """Case, ё/е, quotes and whitespace do not make a different product."""
    name = name.lower().replace("ё", "е")
    name = re.sub(r"[«»\"'“”„]", "", name)
    return re.sub(r"\s+", " ", name).strip()


def find_duplicate_products() -> list[ProductDuplicateGroup]:
    groups: list[ProductDuplicateGroup] = []
    by_barcode: dict[str, set[int]] = defaultdict(set)
    for value, product_id in Barcode.objects.values_list("value", "product_id"):
        by_barcode[value].add(product_id)
    for value, product_id in Pack.objects.exclude(barcode="").values_list("barcode", "product_id"):
        by_barcode[value].add(product_id)
    groups.extend(
        ProductDuplicateGroup("barcode", value, tuple(sorted(ids))) for value, ids in by_barcode.items() if len(ids) > 1
    )
    by_name: dict[tuple[str, int], set[int]] = defaultdict(set)
    for pk, name, unit_id in Product.objects.filter(active=True).values_list("pk", "name", "unit_id").iterator(2000):
        by_name[(normalize_name(name), unit_id)].add(pk)
    groups.extend(
        ProductDuplicateGroup("name_unit", name, tuple(sorted(ids)))
        for (name, _unit), ids in by_name.items()
        if len(ids) > 1
    )
    return sorted(groups, key=lambda g: g.product_ids)
