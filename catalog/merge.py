"""Merging duplicate products (the same article or barcode under several records) into a survivor.

Every reference to a duplicate moves to the survivor — order lines, reservations, shipment lines, barcodes,
packs, kit components, batches, and the generic ones (bindings, overrides, conflicts) — except the stock
levels, which are the ERP's figures of the duplicate's own ERP record and stay with it. A child that would
clash with one of the survivor's (a pack of the same unit, a price in the same list) is deactivated when that
resolves it, else dropped and listed; a clash that something still points at refuses the merge. The
duplicates are kept, inactive and marked `merged_into`, with their history; the ERP is not touched: the plan
names the ERP records to archive there. One transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext_lazy as _

from .errors import MergeRefused
from .models import Product, StockLevel

STAYS = (StockLevel,)  # the ERP's figures of the duplicate's own record


@dataclass(frozen=True)
class RelationMove:
    model: str  # app_label.ModelName
    verbose_name: str
    field: str
    count: int


@dataclass(frozen=True)
class ProductMergePlan:
    survivor_id: int
    duplicate_ids: tuple[int, ...]
    relations: tuple[RelationMove, ...]
    stays: tuple[RelationMove, ...]  # left with the duplicates
    erp_records_to_archive: tuple[str, ...]  # "article (ERP id …)" of each bound duplicate


@dataclass(frozen=True)
class ProductMergeResult:
    survivor_id: int
    merged_ids: tuple[int, ...]
    plan: ProductMergePlan
    deactivated: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


@dataclass
class _Outcome:
    deactivated: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def _reverse_relations() -> list[models.ForeignObjectRel]:
    return [rel for rel in Product._meta.related_objects if not rel.many_to_many]


def _generic_relations() -> list[tuple[type[models.Model], GenericForeignKey]]:
    return [(model, gfk) for model in apps.get_models() for gfk in model._meta.private_fields
            if isinstance(gfk, GenericForeignKey)]


def _fk_values(model, gfk: GenericForeignKey, ids: list[int]) -> list:
    fk_field = model._meta.get_field(gfk.fk_field)
    return [str(pk) if isinstance(fk_field, models.CharField) else pk for pk in ids]


def _check(survivor: Product, duplicates: list[Product]) -> None:
    if not duplicates:
        raise MergeRefused("empty", _("Choose at least one duplicate to merge."))
    if survivor.pk in {d.pk for d in duplicates}:
        raise MergeRefused("self", _("The survivor cannot be one of its duplicates."))
    if survivor.merged_into_id:
        raise MergeRefused("survivor_merged", _("“%(name)s” is itself merged into another product.")
                           % {"name": survivor})
    for dup in duplicates:
        if dup.merged_into_id:
            raise MergeRefused("already_merged", _("“%(name)s” is already merged.") % {"name": dup})
        if dup.unit_id != survivor.unit_id:
            raise MergeRefused("unit", _("“%(a)s” and “%(b)s” have different base units (%(ua)s, %(ub)s): their "
                                         "quantities cannot be added up.")
                               % {"a": survivor, "b": dup, "ua": survivor.unit.short_name, "ub": dup.unit.short_name})


def plan_product_merge(survivor: Product, duplicates: list[Product]) -> ProductMergePlan:
    """What a merge would move and leave; raises MergeRefused when it must not happen. Changes nothing."""
    duplicates = list(duplicates)
    _check(survivor, duplicates)
    dup_ids = [d.pk for d in duplicates]
    moves, stays = [], []
    for rel in _reverse_relations():
        model = rel.related_model
        count = model._base_manager.filter(**{f"{rel.field.name}__in": dup_ids}).count()
        if count:
            move = RelationMove(model._meta.label, str(model._meta.verbose_name_plural), rel.field.name, count)
            (stays if model in STAYS else moves).append(move)
    ct = ContentType.objects.get_for_model(Product)
    for model, gfk in _generic_relations():
        count = model._base_manager.filter(**{gfk.ct_field: ct,
                                              f"{gfk.fk_field}__in": _fk_values(model, gfk, dup_ids)}).count()
        if count:
            moves.append(RelationMove(model._meta.label, str(model._meta.verbose_name_plural), gfk.name, count))
    archive = tuple(f"{d.article} (ERP id {d.erp_id})" for d in duplicates if d.erp_id)
    return ProductMergePlan(survivor.pk, tuple(dup_ids), tuple(moves), tuple(stays), archive)


def _move_rows(model, field_name: str, filters: dict, value, outcome: _Outcome) -> None:
    """Point the rows at `value`; a row that clashes with the survivor's is deactivated (when the model has
    `active`), else deleted and listed; one that clashes and is still referenced refuses the merge."""
    queryset = model._base_manager.filter(**filters)
    try:
        with transaction.atomic():
            queryset.update(**{field_name: value})
        return
    except IntegrityError:
        pass
    has_active = any(f.name == "active" for f in model._meta.concrete_fields)
    for row in list(model._base_manager.filter(**filters)):
        label = f"{model._meta.verbose_name}: {row}"
        try:
            with transaction.atomic():
                model._base_manager.filter(pk=row.pk).update(**{field_name: value})
            continue
        except IntegrityError:
            pass
        if has_active:
            try:
                with transaction.atomic():
                    model._base_manager.filter(pk=row.pk).update(**{field_name: value, "active": False})
                outcome.deactivated.append(label)
                continue
            except IntegrityError:
                pass
        try:
            with transaction.atomic():
                row.delete()
        except (ProtectedError, IntegrityError) as exc:
            raise MergeRefused("conflict", _("%(what)s clashes with the survivor's and is still in use: merge it by "
                                             "hand first.") % {"what": label}) from exc
        outcome.dropped.append(label)


def merge_products(survivor: Product, duplicates: list[Product], *, user=None, reason: str) -> ProductMergeResult:
    """Merge `duplicates` into `survivor` in one transaction; raises MergeRefused (nothing changed)."""
    with transaction.atomic():
        ids = sorted([survivor.pk, *(d.pk for d in duplicates)])
        locked = {p.pk: p for p in Product.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        survivor = locked[survivor.pk]
        duplicates = [locked[d.pk] for d in duplicates]
        plan = plan_product_merge(survivor, duplicates)
        dup_ids = list(plan.duplicate_ids)
        note = f"{reason} (merge of #{', #'.join(map(str, dup_ids))} into #{survivor.pk})"
        outcome = _Outcome()
        for rel in _reverse_relations():
            if rel.related_model in STAYS:
                continue
            _move_rows(rel.related_model, rel.field.name, {f"{rel.field.name}__in": dup_ids}, survivor, outcome)
        ct = ContentType.objects.get_for_model(Product)
        for model, gfk in _generic_relations():
            _move_rows(model, gfk.fk_field, {gfk.ct_field: ct, f"{gfk.fk_field}__in": _fk_values(model, gfk, dup_ids)},
                       _fk_values(model, gfk, [survivor.pk])[0], outcome)
        survivor._change_reason = note
        survivor._history_user = user
        survivor.save()
        for dup in duplicates:
            dup.merged_into = survivor
            dup.active = False
            dup._change_reason = note
            dup._history_user = user
            dup.save()
    return ProductMergeResult(survivor.pk, tuple(dup_ids), plan, tuple(outcome.deactivated), tuple(outcome.dropped))
