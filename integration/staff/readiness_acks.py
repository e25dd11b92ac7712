"""Acknowledgements of failing pre-launch checks, and the stored runs the admin index reads."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import ReadinessAck, ReadinessRun
from .readiness import CheckResult, overall


def _who(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def apply_acknowledgements(results: list[CheckResult]) -> None:
    """Mark failing checks acknowledged while their offender count has not grown since."""
    acks = {ack.code: ack for ack in ReadinessAck.objects.select_related("acknowledged_by")}
    for result in results:
        ack = acks.get(result.code)
        if ack is not None and not result.passed and result.count <= ack.count:
            result.acknowledged_by = _who(ack.acknowledged_by) or "—"
            result.acknowledged_at = timezone.localtime(ack.acknowledged_at).strftime("%d.%m.%Y %H:%M")


def acknowledge_check(code: str, count: int, *, user, note: str = "") -> ReadinessAck:
    ack, _created = ReadinessAck.objects.update_or_create(
        code=code, defaults={"count": count, "note": note, "acknowledged_by": user,
                             "acknowledged_at": timezone.now()})
    with transaction.atomic():  # the index reads the last run: it reflects the acknowledgement at once
        last = ReadinessRun.objects.select_for_update().first()
        if last is not None:
            results = [CheckResult(**{k: v for k, v in row.items() if k not in ("offenders", "settled")})
                       for row in last.results]
            apply_acknowledgements(results)
            last.status = overall(results)
            for row, result in zip(last.results, results, strict=True):
                row.update(acknowledged_by=result.acknowledged_by, acknowledged_at=result.acknowledged_at,
                           settled=result.settled)
            last.save(update_fields=["status", "results"])
    return ack


def store_run(results: list[CheckResult], *, user=None) -> ReadinessRun:
    return ReadinessRun.objects.create(started_by=user, status=overall(results),
                                       results=[r.as_dict() for r in results])


def last_run() -> ReadinessRun | None:
    return ReadinessRun.objects.first()
