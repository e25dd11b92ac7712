"""Merging duplicate counterparties into a survivor.

Every reference to a duplicate is found generically — reverse relations from `_meta.related_objects`
(orders and anything added later) and generic foreign keys of any installed model — and moved to the
survivor. Phones and e-mails move de-duplicated; integration bindings move where the survivor has none
for that backend and are dropped (and listed) otherwise; duplicates are marked `merged_into` and history
rows carry the user and the reason. All in one transaction.
"""

from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext_lazy as _
from simple_history.exceptions import NotHistoricalModelError
from simple_history.utils import bulk_update_with_history, get_history_manager_for_model

from .errors import MergeRefused
from .models import Counterparty, Email, Phone

FILLABLE = ("full_name", "ogrn", "legal_address", "actual_address", "segment_id", "inn", "erp_id", "crm_id")
UNIQUE_FILLABLE = ("erp_id", "crm_id")


@dataclass(frozen=True)
class RelationMove:
    model: str  # app_label.ModelName
    verbose_name: str
    field: str
    count: int


@dataclass(frozen=True)
class BindingMove:
    backend: str
    external_id: str
    from_id: int
    moved: bool  # False: dropped, the survivor already has a binding for this backend


@dataclass(frozen=True)
class MergePlan:
    survivor_id: int
    duplicate_ids: tuple[int, ...]
    relations: tuple[RelationMove, ...]
    bindings: tuple[BindingMove, ...]
    phones_moved: tuple[str, ...]
    phones_dropped: tuple[str, ...]
    emails_moved: tuple[str, ...]
    emails_dropped: tuple[str, ...]
    fields_filled: tuple[tuple[str, str], ...] = field(default=())

    @property
    def bindings_dropped(self) -> tuple[BindingMove, ...]:
        return tuple(b for b in self.bindings if not b.moved)


@dataclass(frozen=True)
class MergeResult:
    survivor_id: int
    merged_ids: tuple[int, ...]
    plan: MergePlan
    dropped: tuple[str, ...] = ()  # generic references that clashed with the survivor's own (e.g. overrides)


def _reverse_relations() -> list[models.ForeignObjectRel]:
    return [rel for rel in Counterparty._meta.related_objects if rel.related_model not in (Phone, Email)]


def _generic_relations() -> list[tuple[type[models.Model], GenericForeignKey]]:
    from integration.models import Binding  # the binding rules below; any other generic reference just moves

    return [
        (model, gfk)
        for model in apps.get_models()
        if model is not Binding
        for gfk in model._meta.private_fields
        if isinstance(gfk, GenericForeignKey)
    ]


def _check(survivor: Counterparty, duplicates: list[Counterparty]) -> None:
    if not duplicates:
        raise MergeRefused("empty", _("Choose at least one duplicate to merge."))
    if survivor.pk in {d.pk for d in duplicates}:
        raise MergeRefused("self", _("The survivor cannot be one of its duplicates."))
    if survivor.merged_into_id:
        raise MergeRefused("survivor_merged", _("“%(name)s” is itself merged into another counterparty.")
                           % {"name": survivor.name})
    for dup in duplicates:
        if dup.merged_into_id:
            raise MergeRefused("already_merged", _("“%(name)s” is already merged.") % {"name": dup.name})
        if dup.kind != survivor.kind:
            raise MergeRefused("kind", _("“%(a)s” (%(ka)s) and “%(b)s” (%(kb)s) are different kinds of counterparty.")
                               % {"a": survivor.name, "ka": survivor.get_kind_display(),
                                  "b": dup.name, "kb": dup.get_kind_display()})
        if dup.inn and survivor.inn and dup.inn != survivor.inn:
            raise MergeRefused("inn", _("“%(a)s” and “%(b)s” have different INN (%(ia)s, %(ib)s).")
                               % {"a": survivor.name, "b": dup.name, "ia": survivor.inn, "ib": dup.inn})
        if survivor.kind == Counterparty.Kind.LEGAL and dup.kpp != survivor.kpp:
            raise MergeRefused("branch", _("“%(a)s” and “%(b)s” have different KPP: they are branches, not duplicates.")
                               % {"a": survivor.name, "b": dup.name})


def plan_merge(survivor: Counterparty, duplicates: list[Counterparty]) -> MergePlan:
    """What a merge would move; raises MergeRefused when it must not happen. Changes nothing."""
    duplicates = list(duplicates)
    _check(survivor, duplicates)
    dup_ids = [d.pk for d in duplicates]
    relations = []
    for rel in _reverse_relations():
        model = rel.related_model
        count = model._base_manager.filter(**{f"{rel.field.name}__in": dup_ids}).count()
        if count and rel.one_to_one and model._base_manager.filter(**{rel.field.name: survivor}).exists():
            raise MergeRefused("one_to_one", _("Both have a %(what)s; merge them by hand first.")
                               % {"what": model._meta.verbose_name})
        if count:
            relations.append(RelationMove(model._meta.label, str(model._meta.verbose_name_plural), rel.field.name, count))
    ct = ContentType.objects.get_for_model(Counterparty)
    for model, gfk in _generic_relations():
        count = model._base_manager.filter(**{gfk.ct_field: ct, f"{gfk.fk_field}__in": _fk_values(model, gfk, dup_ids)}).count()
        if count:
            relations.append(RelationMove(model._meta.label, str(model._meta.verbose_name_plural), gfk.name, count))

    phones = set(survivor.phones.values_list("number", flat=True))
    phones_moved, phones_dropped = [], []
    for number in Phone.objects.filter(counterparty_id__in=dup_ids).order_by("pk").values_list("number", flat=True):
        (phones_dropped if number in phones else phones_moved).append(number)
        phones.add(number)
    emails = {a.lower() for a in survivor.emails.values_list("address", flat=True)}
    emails_moved, emails_dropped = [], []
    for address in Email.objects.filter(counterparty_id__in=dup_ids).order_by("pk").values_list("address", flat=True):
        (emails_dropped if address.lower() in emails else emails_moved).append(address)
        emails.add(address.lower())

    filled = []
    for name in FILLABLE:
        if not getattr(survivor, name):
            value = next((getattr(d, name) for d in duplicates if getattr(d, name)), None)
            if value:
                filled.append((name, str(value)))
    return MergePlan(
        survivor_id=survivor.pk,
        duplicate_ids=tuple(dup_ids),
        relations=tuple(relations),
        bindings=_plan_bindings(survivor, dup_ids, ct),
        phones_moved=tuple(phones_moved),
        phones_dropped=tuple(phones_dropped),
        emails_moved=tuple(emails_moved),
        emails_dropped=tuple(emails_dropped),
        fields_filled=tuple(filled),
    )


def _fk_values(model, gfk: GenericForeignKey, ids: list[int]) -> list:
    fk_field = model._meta.get_field(gfk.fk_field)
    return [fk_field.to_python(str(pk)) if isinstance(fk_field, models.CharField) else pk for pk in ids]


def _plan_bindings(survivor: Counterparty, dup_ids: list[int], ct: ContentType) -> tuple[BindingMove, ...]:
    from integration.models import Binding

    taken = set(Binding.objects.filter(content_type=ct, object_id=survivor.pk).values_list("backend_id", flat=True))
    moves = []
    for backend_id, backend, external_id, object_id in (
        Binding.objects.filter(content_type=ct, object_id__in=dup_ids)
        .order_by("pk")
        .values_list("backend_id", "backend__name", "external_id", "object_id")
    ):
        moves.append(BindingMove(backend, external_id, object_id, moved=backend_id not in taken))
        taken.add(backend_id)
    return tuple(moves)


def _history_manager(model):
    try:
        return get_history_manager_for_model(model)
    except NotHistoricalModelError:
        return None


def _move(model, field_name: str, filters: dict, value, *, user, reason: str) -> None:
    """Point `field_name` of the matching rows at `value`, writing history rows where the model keeps them."""
    queryset = model._base_manager.filter(**filters)
    if _history_manager(model) is None:
        queryset.update(**{field_name: value})
        return
    rows = list(queryset)
    for row in rows:
        setattr(row, field_name, value)
    bulk_update_with_history(rows, model, [field_name], batch_size=500, default_user=user,
                             default_change_reason=reason)


def _move_generic(model, field_name: str, filters: dict, value, *, user, reason: str) -> list[str]:
    """Like `_move`; a row that would clash with the survivor's own (a unique constraint) is dropped and listed."""
    try:
        with transaction.atomic():
            _move(model, field_name, filters, value, user=user, reason=reason)
        return []
    except IntegrityError:
        pass
    dropped = []
    for row in model._base_manager.filter(**filters):
        try:
            with transaction.atomic():
                _move(model, field_name, {"pk": row.pk}, value, user=user, reason=reason)
        except IntegrityError:
            dropped.append(f"{model._meta.verbose_name}: {row}")
            row.delete()
    return dropped


def merge_counterparties(survivor: Counterparty, duplicates: list[Counterparty], *, user=None, reason: str) -> MergeResult:
    """Merge `duplicates` into `survivor` in one transaction; raises MergeRefused (nothing changed)."""
    from integration.models import Binding

    with transaction.atomic():
        ids = sorted([survivor.pk, *(d.pk for d in duplicates)])
        locked = {c.pk: c for c in Counterparty.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        survivor = locked[survivor.pk]
        duplicates = [locked[d.pk] for d in duplicates]
        plan = plan_merge(survivor, duplicates)
        dup_ids = list(plan.duplicate_ids)
        note = f"{reason} (merge of #{', #'.join(map(str, dup_ids))} into #{survivor.pk})"

        for rel in _reverse_relations():
            if rel.many_to_many:
                accessor = rel.get_accessor_name()
                for dup in duplicates:
                    getattr(survivor, accessor).add(*getattr(dup, accessor).all())
                    getattr(dup, accessor).clear()
                continue
            try:
                with transaction.atomic():
                    _move(rel.related_model, rel.field.name, {f"{rel.field.name}__in": dup_ids}, survivor,
                          user=user, reason=note)
            except IntegrityError as exc:
                raise MergeRefused("conflict", _("%(what)s of the duplicates clash with the survivor's: %(error)s")
                                   % {"what": rel.related_model._meta.verbose_name_plural, "error": exc}) from exc
        ct = ContentType.objects.get_for_model(Counterparty)
        dropped: list[str] = []
        for model, gfk in _generic_relations():
            dropped += _move_generic(
                model, gfk.fk_field, {gfk.ct_field: ct, f"{gfk.fk_field}__in": _fk_values(model, gfk, dup_ids)},
                _fk_values(model, gfk, [survivor.pk])[0], user=user, reason=note)

        has_primary = survivor.phones.filter(is_primary=True).exists()
        for phone in Phone.objects.filter(counterparty_id__in=dup_ids).order_by("pk"):
            if phone.number in plan.phones_moved and not survivor.phones.filter(number=phone.number).exists():
                Phone.objects.filter(pk=phone.pk).update(counterparty=survivor, is_primary=phone.is_primary and not has_primary)
                has_primary = has_primary or phone.is_primary
            else:
                phone.delete()
        has_primary = survivor.emails.filter(is_primary=True).exists()
        for email in Email.objects.filter(counterparty_id__in=dup_ids).order_by("pk"):
            if not survivor.emails.filter(address__iexact=email.address).exists():
                Email.objects.filter(pk=email.pk).update(counterparty=survivor, is_primary=email.is_primary and not has_primary)
                has_primary = has_primary or email.is_primary
            else:
                email.delete()

        taken = set(Binding.objects.filter(content_type=ct, object_id=survivor.pk).values_list("backend_id", flat=True))
        for binding in Binding.objects.filter(content_type=ct, object_id__in=dup_ids).order_by("pk"):
            if binding.backend_id in taken:
                binding.delete()
            else:
                Binding.objects.filter(pk=binding.pk).update(object_id=survivor.pk)
                taken.add(binding.backend_id)

        by_id = {d.pk: d for d in duplicates}
        for name, _value in plan.fields_filled:
            source = next(d for d in duplicates if getattr(d, name))
            value = getattr(source, name)
            if name in UNIQUE_FILLABLE:
                Counterparty.objects.filter(pk=source.pk).update(**{name: None})
                setattr(by_id[source.pk], name, None)
            setattr(survivor, name, value)
        survivor._change_reason = note
        survivor._history_user = user
        survivor.save()
        for dup in duplicates:
            dup.merged_into = survivor
            dup._change_reason = note
            dup._history_user = user
            dup.save()
    return MergeResult(survivor.pk, tuple(dup_ids), plan, tuple(dropped))
