"""Bindings: (backend, external id) ↔ local row; stale/unchanged detection; echo suppression."""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.utils import timezone

from .models import Backend, Binding

_importing: contextvars.ContextVar[int] = contextvars.ContextVar("integration_importing", default=0)


@contextmanager
def importing() -> Iterator[None]:
    """Mark local writes inside the block as made by an import: exporters must not echo them back."""
    token = _importing.set(_importing.get() + 1)
    try:
        yield
    finally:
        _importing.reset(token)


def is_importing() -> bool:
    return _importing.get() > 0


def compute_hash(data: dict) -> str:
    """A stable SHA-256 of a mapped record (key order and Decimal/date types don't matter)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _content_type(model_or_obj) -> ContentType:
    return ContentType.objects.get_for_model(model_or_obj, for_concrete_model=True)


def bind(
    backend: Backend,
    obj: models.Model,
    external_id: str,
    *,
    remote_updated_at: datetime | None = None,
    remote_version: str = "",
    content_hash: str = "",
) -> Binding:
    """Create or update the binding of `obj` to `external_id`, stamping synced_at.

    If the external id was bound to another row it is moved to `obj` (the remote record was re-linked).
    """
    content_type = _content_type(obj)
    external_id = str(external_id)
    now = timezone.now()
    values = {
        "external_id": external_id,
        "remote_updated_at": remote_updated_at,
        "remote_version": str(remote_version or ""),
        "content_hash": content_hash,
        "synced_at": now,
    }
    Binding.objects.filter(backend=backend, content_type=content_type, external_id=external_id).exclude(
        object_id=obj.pk
    ).delete()
    binding, _created = Binding.objects.update_or_create(
        backend=backend, content_type=content_type, object_id=obj.pk, defaults=values
    )
    return binding


def lookup(backend: Backend, model: type[models.Model], external_id: str) -> models.Model | None:
    """The local row of `model` bound to `external_id` on `backend`, or None."""
    object_id = (
        Binding.objects.filter(backend=backend, content_type=_content_type(model), external_id=str(external_id))
        .values_list("object_id", flat=True)
        .first()
    )
    if object_id is None:
        return None
    return model._default_manager.filter(pk=object_id).first()


def binding_for(backend: Backend, obj: models.Model) -> Binding | None:
    return Binding.objects.filter(backend=backend, content_type=_content_type(obj), object_id=obj.pk).first()


def external_id_for(backend: Backend, obj: models.Model) -> str | None:
    binding = binding_for(backend, obj)
    return binding.external_id if binding else None


def is_stale_or_unchanged(binding: Binding | None, remote_updated_at: datetime | None, content_hash: str) -> bool:
    """True when an incoming record is older than the bound one or has the same content: skip it.

    Remote timestamps are compared with stored remote timestamps, never with our clock.
    """
    if binding is None:
        return False
    if remote_updated_at is not None and binding.remote_updated_at is not None:
        if remote_updated_at < binding.remote_updated_at:
            return True
    return bool(content_hash) and content_hash == binding.content_hash


def store_versions(backend: Backend, content_type: ContentType, versions: list[tuple[int, str, datetime | None]],
                   synced_at: datetime) -> int:
    """Record what was just written for each bound object — (object id, content hash, remote updated_at) — in one
    statement; returns the number of bindings updated. On PostgreSQL the values go as three array parameters:
    bulk_update's CASE WHEN with three placeholders a row cost the catalog push 80 ms of CPU a batch of 250."""
    if not versions:
        return 0
    if connection.vendor != "postgresql":
        by_object = {object_id: (content_hash, remote) for object_id, content_hash, remote in versions}
        bindings = list(Binding.objects.filter(backend=backend, content_type=content_type, object_id__in=by_object))
        for binding in bindings:
            binding.content_hash, binding.remote_updated_at = by_object[binding.object_id]
            binding.synced_at = synced_at
        return Binding.objects.bulk_update(bindings, ["content_hash", "remote_updated_at", "synced_at"])
    ids, hashes, remotes = (list(column) for column in zip(*versions, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(Binding._meta.db_table)} AS b"
            " SET content_hash = v.content_hash, remote_updated_at = v.remote_updated_at, synced_at = %s"
            " FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[]) AS v(object_id, content_hash, remote_updated_at)"
            " WHERE b.backend_id = %s AND b.content_type_id = %s AND b.object_id = v.object_id",
            [synced_at, ids, hashes, remotes, backend.pk, content_type.pk])
        return cursor.rowcount
