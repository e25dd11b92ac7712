"""«Проверить подключение»: reach the publication, log in, read `$metadata`, name what the composition lacks.

The outcome is kept on the backend (`settings["onec_check"]`) so the admin shows the last one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.utils import timezone

from integration.erp.onec.client import OneCClient
from integration.erp.onec.profile import (
    PROFILE_NAMES,
    detect_profile,
    missing_sets,
    parse_metadata,
    store_profile,
)
from integration.errors import IntegrationError
from integration.models import Backend


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    profile: str = ""  # УТ 11 / КА 2 / ERP 2
    missing: list[str] = field(default_factory=list)  # entity sets to add to the OData composition
    error: str = ""  # unreachable, login refused, …


def check_connection(backend: Backend) -> ConnectionCheck:
    try:
        xml = OneCClient(backend, timeout=30).metadata()
        missing = missing_sets(parse_metadata(xml)[0])
        if missing:
            result = ConnectionCheck(ok=False, missing=missing)
        else:
            profile = detect_profile(xml)
            store_profile(backend, profile)
            result = ConnectionCheck(ok=True, profile=PROFILE_NAMES.get(profile.name, profile.name))
    except IntegrationError as exc:
        result = ConnectionCheck(ok=False, error=str(exc))
    backend.settings = {**(backend.settings or {}),
                        "onec_check": {**asdict(result), "checked_at": timezone.now().isoformat()}}
    Backend.objects.filter(pk=backend.pk).update(settings=backend.settings)
    return result
