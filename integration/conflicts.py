"""Conflicts between the ERP and the CRM (or an override): recorded, visible, resolved by staff."""

from __future__ import annotations

import json

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from .errors import ConflictAlreadyResolved
from .models import Conflict, Override
from .overrides import model_field, normalize, to_json


def _as_json(value):
    return json.loads(json.dumps(to_json(value), cls=DjangoJSONEncoder))


def record_conflict(
    obj: models.Model,
    field: str,
    *,
    erp_value,
    crm_value,
    policy: str = Conflict.Policy.ERP_WINS,
    auto_resolved: bool = True,
) -> Conflict:
    """Record that the ERP and the CRM disagree on obj.field. A repeat of the same disagreement
    (same values, still open / auto-resolved) bumps the existing row instead of adding one."""
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    status = Conflict.Status.AUTO_RESOLVED if auto_resolved else Conflict.Status.OPEN
    erp_json, crm_json = _as_json(erp_value), _as_json(crm_value)
    now = timezone.now()
    with transaction.atomic():
        for existing in Conflict.objects.select_for_update().filter(
            content_type=content_type, object_id=obj.pk, field=field, status=status, policy=policy
        ):
            if existing.erp_value == erp_json and existing.crm_value == crm_json:
                Conflict.objects.filter(pk=existing.pk).update(
                    occurrences=models.F("occurrences") + 1, last_seen_at=now
                )
                existing.refresh_from_db()
                return existing
        conflict = Conflict(
            content_type=content_type,
            object_id=obj.pk,
            object_repr=str(obj)[:200],
            field=field,
            erp_value=erp_json,
            crm_value=crm_json,
            policy=policy,
            status=status,
            created_at=now,
            last_seen_at=now,
        )
        if auto_resolved:
            conflict.resolution = (
                Conflict.Resolution.TAKE_CRM if policy == Conflict.Policy.CRM_WINS else Conflict.Resolution.TAKE_ERP
            )
            conflict.resolved_at = now
        conflict.skip_history_when_saving = True  # machine-made; history records the human resolution
        conflict.save()
        del conflict.skip_history_when_saving
    return conflict


def resolve_conflict(conflict: Conflict, choice: str, *, user, value=None, reason: str = "") -> Conflict:
    """Apply the chosen value (take_erp / take_crm / manual `value`) to the object and close the conflict.

    A pin (override) on the field with a different value is lifted: staff have decided. Derived fields
    ("lines.<article>.quantity") are closed with the decision recorded; nothing is written to the object.
    """
    if choice not in Conflict.Resolution.values:
        raise ValidationError({"choice": f"unknown resolution {choice!r}; expected one of {', '.join(Conflict.Resolution.values)}"})
    if choice == Conflict.Resolution.MANUAL and value in (None, ""):
        raise ValidationError({"value": "a manual resolution needs a value"})
    with transaction.atomic():
        conflict = Conflict.objects.select_for_update().get(pk=conflict.pk)
        if conflict.status == Conflict.Status.RESOLVED:
            raise ConflictAlreadyResolved(f"conflict #{conflict.pk} was already resolved")
        model = conflict.content_type.model_class()
        obj = model._default_manager.select_for_update().filter(pk=conflict.object_id).first() if model else None
        if obj is None:
            raise ValidationError({"object": f"{conflict.content_type} #{conflict.object_id} no longer exists"})
        raw = {
            Conflict.Resolution.TAKE_ERP: conflict.erp_value,
            Conflict.Resolution.TAKE_CRM: conflict.crm_value,
            Conflict.Resolution.MANUAL: value,
        }[choice]
        if "." in conflict.field:
            # A derived field ("lines.<article>.quantity"): the decision is recorded; the connector that
            # raised it applies compositions (the ERP wins and the deal is corrected).
            new_value = raw
        else:
            new_value = _apply(conflict, obj, raw, user=user, reason=reason)
        conflict.status = Conflict.Status.RESOLVED
        conflict.resolution = choice
        conflict.manual_value = _as_json(new_value) if choice == Conflict.Resolution.MANUAL else None
        conflict.resolved_by = user
        conflict.resolved_at = timezone.now()
        conflict.reason = reason
        conflict._history_user = user
        conflict._change_reason = reason[:100] or None
        conflict.save()
    return conflict


def _apply(conflict: Conflict, obj: models.Model, raw, *, user, reason: str):
    field = model_field(obj, conflict.field)
    try:
        new_value = field.clean(normalize(field, raw), obj)
    except ValidationError as exc:
        raise ValidationError({"value": f"{conflict.field}: {'; '.join(exc.messages)}"}) from exc
    if getattr(obj, field.attname) != new_value:
        setattr(obj, field.attname, new_value)
        obj._history_user = user
        obj._change_reason = (reason or f"conflict #{conflict.pk}")[:100]
        obj.save(update_fields=[field.attname])
    for pin in Override.objects.filter(content_type=conflict.content_type, object_id=conflict.object_id, field=conflict.field):
        if normalize(field, pin.value) != new_value:
            pin._history_user = user
            pin._change_reason = f"conflict #{conflict.pk} resolved"
            pin.delete()
    return new_value
