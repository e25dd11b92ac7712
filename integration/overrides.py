"""Overrides: a value pinned by staff on one local field; syncs keep it and record a conflict instead."""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

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
