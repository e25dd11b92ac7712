"""Overrides: a value pinned by staff on one local field; syncs keep it and record a conflict instead.

`apply_remote_values` serves syncs that save one instance at a time; `load_pins` / `Pins` serve bulk
syncs (one query per batch)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from .bindings import compute_hash
from .models import Conflict, Override


def _content_type(obj: models.Model) -> ContentType:
    return ContentType.objects.get_for_model(obj, for_concrete_model=True)


def model_field(obj: models.Model, name: str) -> models.Field:
    try:
        field = obj._meta.get_field(name)
    except FieldDoesNotExist as exc:
        raise ValidationError({"field": f"{obj._meta.label} has no field {name!r}"}) from exc
    if not getattr(field, "concrete", False) or field.many_to_many or field.one_to_many:
        raise ValidationError({"field": f"{obj._meta.label}.{name} is not a simple field"})
    return field


def normalize(field: models.Field, value):
    """A value comparable with getattr(obj, field.attname): model instances → pk, text → the field's type."""
    if isinstance(value, models.Model):
        return value.pk
    if value is None:
        return None
    target = field.target_field if field.is_relation else field
    try:
        return target.to_python(value)
    except ValidationError:
        return value


def to_json(value):
    """A JSON-storable form of a field value (model instances → pk)."""
    return value.pk if isinstance(value, models.Model) else value


def _active_q() -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())


def active_overrides(obj: models.Model) -> dict[str, Override]:
    """Active overrides of `obj`, by field name (one query)."""
    if obj.pk is None:
        return {}
    rows = Override.objects.filter(_active_q(), content_type=_content_type(obj), object_id=obj.pk)
    return {row.field: row for row in rows}


def active_override(obj: models.Model, field: str) -> Override | None:
    return active_overrides(obj).get(field)


def pin_value(obj: models.Model, field: str, value, *, author, reason: str, expires_at: datetime | None = None) -> Override:
    """Pin `value` on obj.field (replacing an earlier pin), apply it to the object and save it."""
    if not reason or not reason.strip():
        raise ValidationError({"reason": "a reason is required to pin a value"})
    model_field_ = model_field(obj, field)
    cleaned = model_field_.clean(normalize(model_field_, value), obj)
    with transaction.atomic():
        override = Override.objects.filter(content_type=_content_type(obj), object_id=obj.pk, field=field).first()
        override = override or Override(content_type=_content_type(obj), object_id=obj.pk, field=field)
        override.value = to_json(cleaned)
        override.reason = reason.strip()
        override.author = author
        override.expires_at = expires_at
        override.object_repr = str(obj)[:200]
        override._history_user = author
        override.save()
        if getattr(obj, model_field_.attname) != cleaned:
            setattr(obj, model_field_.attname, cleaned)
            obj._history_user = author
            obj.save(update_fields=[model_field_.attname])
    return override


def lift_override(override: Override, *, user=None, reason: str = "") -> None:
    override._history_user = user
    override._change_reason = reason[:100] or None
    override.delete()


def apply_remote_values(obj: models.Model, values: dict, *, erp_values: bool = True) -> list[str]:
    """Set fields of `obj` from remote `values` (not saved), except overridden ones.

    For an overridden field whose remote value differs from the pinned one a conflict is recorded (open,
    policy "override kept"); the pinned value stays (and is restored if the object drifted). Returns the
    names of the fields changed on `obj`; the caller saves it.
    """
    from .conflicts import record_conflict

    pins = active_overrides(obj)
    changed: list[str] = []
    for name, remote in values.items():
        field = model_field(obj, name)
        current = getattr(obj, field.attname)
        override = pins.get(name)
        if override is not None:
            pinned = normalize(field, override.value)
            remote_value = normalize(field, remote)
            if remote_value != pinned:
                erp, crm = (remote_value, pinned) if erp_values else (pinned, remote_value)
                record_conflict(obj, name, erp_value=erp, crm_value=crm, policy=Conflict.Policy.OVERRIDE, auto_resolved=False)
            if current != pinned:
                setattr(obj, field.attname, pinned)
                changed.append(name)
            continue
        if isinstance(remote, models.Model):
            if current != remote.pk:
                setattr(obj, name, remote)
                changed.append(name)
            continue
        remote_value = normalize(field, remote)
        if current != remote_value:
            setattr(obj, field.attname, remote_value)
            changed.append(name)
    return changed


# --- batches: what the bulk syncs call ------------------------------------------------------------------


@dataclass
class _PendingConflict:
    object_id: int
    field: str
    remote: object
    pinned: object
    erp_values: bool


class Pins:
    """The active overrides of a batch of rows of one model, loaded in one query, for syncs that write
    rows in bulk (tuples, not instances). Usage, inside the sync's transaction::

        pins = load_pins(Counterparty, local_pks)
        values = pins.apply(pk, {"name": remote.name, "kpp": remote.kpp})  # pinned fields keep the pin
        ...write `values`...
        pins.record_conflicts()  # one conflict per pinned field the remote side disagrees with

    `signature(pk)` is a digest that changes whenever the object's pins change (added, edited,
    lifted, expired); a sync that skips unchanged rows by a content hash folds it into the hash
    (`pinned_hash`), so a pin lifted since the last run makes the row count as changed again and the
    remote value is restored.
    """

    def __init__(self, model: type[models.Model], overrides: Iterable[Override]):
        self.model = model
        self._attname = {}
        for field in model._meta.concrete_fields:
            self._attname[field.name] = self._attname[field.attname] = field.attname
        self._fields = {f.attname: f for f in model._meta.concrete_fields}
        self.by_object: dict[int, dict[str, Override]] = defaultdict(dict)
        for override in overrides:
            attname = self._attname.get(override.field)
            if attname is not None:
                self.by_object[override.object_id][attname] = override
        self._pending: list[_PendingConflict] = []

    def __contains__(self, object_id: int) -> bool:
        return object_id in self.by_object

    def signature(self, object_id: int | None) -> str:
        pins = self.by_object.get(object_id) if object_id is not None else None
        if not pins:
            return ""
        return compute_hash({name: to_json(pin.value) for name, pin in sorted(pins.items())})

    def pinned_hash(self, object_id: int | None, digest: str, *, also: str = "") -> str:
        """`digest` for an unpinned object; a digest of (digest, pins) otherwise (same length). `also`:
        the signature of pins on rows the hash covers too (a product's prices)."""
        signature = self.signature(object_id) + also
        return compute_hash({"content": digest, "pins": signature}) if signature else digest

    def signatures_by(self, owner_of: dict[int, int]) -> dict[int, str]:
        """The pins' signatures grouped by owner (`owner_of`: object id → owner id, e.g. price → product)."""
        grouped: dict[int, list[str]] = defaultdict(list)
        for object_id in sorted(self.by_object):
            if object_id in owner_of:
                grouped[owner_of[object_id]].append(f"{object_id}:{self.signature(object_id)}")
        return {owner: compute_hash({"pins": parts}) for owner, parts in grouped.items()}

    def apply(self, object_id: int | None, values: dict, *, erp_values: bool = True) -> dict:
        """`values` (field name or attname → remote value) with pinned fields replaced by their pinned
        value; a remote value that differs from its pin is queued as a conflict (`record_conflicts`).
        Keys come back as given."""
        pins = self.by_object.get(object_id) if object_id is not None else None
        if not pins:
            return values
        result = dict(values)
        for key, remote in values.items():
            attname = self._attname.get(key, key)
            pin = pins.get(attname)
            if pin is None:
                continue
            field = self._fields[attname]
            pinned, remote_value = normalize(field, pin.value), normalize(field, remote)
            result[key] = pinned
            if remote_value != pinned:
                self._pending.append(_PendingConflict(object_id, field.name, remote_value, pinned, erp_values))
        return result

    def record_conflicts(self) -> int:
        """Record the queued conflicts (policy "override kept", open; a repeat bumps the existing one).
        One query loads their objects; returns how many were recorded."""
        from .conflicts import record_conflict

        pending, self._pending = self._pending, []
        if not pending:
            return 0
        objects = self.model._base_manager.in_bulk({p.object_id for p in pending})
        for item in pending:
            obj = objects.get(item.object_id)
            if obj is None:
                continue
            erp, crm = (item.remote, item.pinned) if item.erp_values else (item.pinned, item.remote)
            record_conflict(
                obj, item.field, erp_value=erp, crm_value=crm, policy=Conflict.Policy.OVERRIDE, auto_resolved=False
            )
        return len(pending)


def load_pins(model: type[models.Model], object_ids) -> Pins:
    """The active overrides of these rows of `model` (ids, or a queryset of pks), in one query."""
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=True)
    if isinstance(object_ids, models.QuerySet):
        of_objects = {"object_id__in": object_ids}
    else:
        ids = [pk for pk in object_ids if pk is not None]
        if not ids:
            return Pins(model, [])
        of_objects = {"object_id__any": ids}  # thousands of ids a sync page: one array parameter
    rows = Override.objects.filter(_active_q(), content_type=content_type, **of_objects)
    return Pins(model, rows)
