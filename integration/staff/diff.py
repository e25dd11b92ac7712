"""What a (dry) sync run reports, arranged for the page: counts, and the per-record diff a connector puts in
`run.details["diff"]` as a list of {"action", "model", "external_id", "object", "changes": {field: [old, new]}}."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from integration.models import SyncRun

MAX_ROWS = 500
COUNTS = (
    ("created", _("would create")),
    ("updated", _("would update")),
    ("unchanged", _("unchanged")),
    ("skipped", _("skipped")),
    ("failed", _("failed")),
)


@dataclass
class DiffRow:
    action: str
    model: str
    external_id: str
    label: str
    changes: list[tuple[str, str, str]]  # (field, old, new)


@dataclass
class RunReport:
    counts: list[tuple[str, int]]
    rows: list[DiffRow] = field(default_factory=list)
    hidden_rows: int = 0
    other_details: str = ""


def _text(value) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _changes(raw) -> list[tuple[str, str, str]]:
    if not isinstance(raw, dict):
        return []
    out = []
    for name, pair in raw.items():
        if isinstance(pair, list | tuple) and len(pair) == 2:
            out.append((str(name), _text(pair[0]), _text(pair[1])))
        else:
            out.append((str(name), "", _text(pair)))
    return out


def describe_run(run: SyncRun) -> RunReport:
    details = dict(run.details or {})
    diff = details.pop("diff", None) or []
    entries = [entry for entry in diff if isinstance(entry, dict)] if isinstance(diff, list) else []
    rows = [
        DiffRow(
            action=str(entry.get("action", "")),
            model=str(entry.get("model", "")),
            external_id=str(entry.get("external_id", "")),
            label=str(entry.get("object", "")),
            changes=_changes(entry.get("changes")),
        )
        for entry in entries[:MAX_ROWS]
    ]
    return RunReport(
        counts=[(str(label), getattr(run, name)) for name, label in COUNTS],
        rows=rows,
        hidden_rows=max(0, len(entries) - MAX_ROWS),
        other_details=json.dumps(details, ensure_ascii=False, indent=2, default=str) if details else "",
    )
