"""Finding counterparties by natural key, and groups of duplicates.

Natural keys: legal entity → ИНН + КПП; ИП → ИНН; individual → normalised phone or e-mail.
Merged rows resolve to their survivor. Legal entities sharing an ИНН with different КПП are
branches of one company: reported as their own group kind, never as duplicates.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import F
from django.db.models.functions import Lower

from .errors import InvalidValue
from .models import Counterparty, Email, Phone
from .types import CounterpartyData
from .validators import normalize_email, normalize_phone


@dataclass(frozen=True)
class DuplicateGroup:
    """Counterparties that are one client (`kind="duplicate"`) or branches of one company (`"branches"`)."""

    kind: str
    reasons: tuple[str, ...]  # "inn_kpp", "inn", "phone", "email", "inn_branches"
    keys: tuple[str, ...]
    counterparty_ids: tuple[int, ...]
    survivor_id: int = field(default=0)  # the suggested survivor: the oldest row with an ERP id, else the oldest


def _normalised(values, normalise) -> list[str]:
    result = []
    for value in values:
        try:
            result.append(normalise(value))
        except InvalidValue:
            continue
    return result


def find_match(data: CounterpartyData) -> Counterparty | None:
    """The existing counterparty (its survivor when merged) that `data` denotes by natural key, or None."""
    inn = (data.inn or "").strip()
    rows = Counterparty.objects.order_by(F("merged_into_id").asc(nulls_first=True), "pk")
    match: Counterparty | None = None
    if data.kind == Counterparty.Kind.LEGAL and inn:
        match = rows.filter(kind=data.kind, inn=inn, kpp=(data.kpp or "").strip().upper()).first()
    elif data.kind == Counterparty.Kind.ENTREPRENEUR and inn:
        match = rows.filter(kind=data.kind, inn=inn).first()
    elif data.kind == Counterparty.Kind.INDIVIDUAL:
        phones = _normalised(data.phones or (), normalize_phone)
        emails = [e.lower() for e in _normalised(data.emails or (), normalize_email)]
        if phones:
            match = rows.filter(kind=data.kind, phones__number__in=phones).first()
        if match is None and emails:
            owners = Email.objects.annotate(key=Lower("address")).filter(key__in=emails).values("counterparty_id")
            match = rows.filter(kind=data.kind, pk__in=owners).first()
        if match is None and inn:
            match = rows.filter(kind=data.kind, inn=inn).first()
    return match.survivor if match is not None else None


class _Union:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, ids: list[int]) -> None:
        for other in ids[1:]:
            self.parent[self.find(other)] = self.find(ids[0])


def find_duplicate_groups() -> list[DuplicateGroup]:
    """Groups among live (not merged) counterparties; rows linked by any shared key form one group."""
    live = Counterparty.objects.filter(merged_into__isnull=True)
    individuals = live.filter(kind=Counterparty.Kind.INDIVIDUAL)
    keyed: list[tuple[str, str, list[int]]] = []

    def collect(reason: str, rows) -> None:
        groups: dict[str, set[int]] = defaultdict(set)
        for pk, *key in rows:
            groups["/".join(key)].add(pk)
        keyed.extend((reason, key, sorted(ids)) for key, ids in groups.items() if len(ids) > 1)

    collect("inn_kpp", live.filter(kind=Counterparty.Kind.LEGAL).exclude(inn="").values_list("pk", "inn", "kpp"))
    collect("inn", live.filter(kind=Counterparty.Kind.ENTREPRENEUR).exclude(inn="").values_list("pk", "inn"))
    collect("phone", Phone.objects.filter(counterparty__in=individuals).values_list("counterparty_id", "number"))
    collect("email", Email.objects.filter(counterparty__in=individuals).annotate(key=Lower("address"))
            .values_list("counterparty_id", "key"))

    union = _Union()
    for _reason, _key, ids in keyed:
        union.join(ids)
    clusters: dict[int, list[tuple[str, str, list[int]]]] = defaultdict(list)
    for entry in keyed:
        clusters[union.find(entry[2][0])].append(entry)
    groups = [("duplicate", entries) for entries in clusters.values()]

    companies: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for pk, inn, kpp in live.filter(kind=Counterparty.Kind.LEGAL).exclude(inn="").values_list("pk", "inn", "kpp"):
        companies[inn].add((pk, kpp))
    for inn, members in companies.items():
        if len({kpp for _pk, kpp in members}) > 1:
            groups.append(("branches", [("inn_branches", inn, sorted(pk for pk, _kpp in members))]))

    all_ids = {pk for _kind, entries in groups for _r, _k, members in entries for pk in members}
    with_erp = set(live.filter(pk__in=all_ids, erp_id__isnull=False).values_list("pk", flat=True))
    result = [_group(kind, entries, with_erp) for kind, entries in groups]
    return sorted(result, key=lambda g: (g.kind != "duplicate", g.counterparty_ids))


def _group(kind: str, entries: list[tuple[str, str, list[int]]], with_erp: set[int]) -> DuplicateGroup:
    ids = sorted({pk for _r, _k, members in entries for pk in members})
    return DuplicateGroup(
        kind=kind,
        reasons=tuple(sorted({r for r, _k, _m in entries})),
        keys=tuple(sorted({k for _r, k, _m in entries})),
        counterparty_ids=tuple(ids),
        survivor_id=min((pk for pk in ids if pk in with_erp), default=ids[0]),
    )
