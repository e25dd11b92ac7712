"""ERP → platform counterparties (sync kind `counterparties`): requisites, contacts and the client's price type.

- Keys as DESIGN says: the ERP id once bound; otherwise a legal entity by ИНН+КПП, an ИП by ИНН, an individual
  by normalised phone or e-mail (`counterparties.matching.find_match`). A match is bound (its ERP id set),
  never duplicated; a second ERP counterparty with the key of one already bound is reported, not imported.
- The counterparty's phone and e-mail and those of its contact persons become its phones and e-mails (the
  ERP is the master: the lists are replaced). A contact value that cannot be normalised is dropped with a
  warning; invalid requisites (ИНН/КПП/ОГРН checksums, an individual without a contact) reject the record,
  reported in the SyncRun with the field and the reason, nothing of it written.
- `priceType` → our price list with that ERP id → its client segment (created, named for the price list, when
  none exists). No price type in the ERP: the default price list, i.e. no segment.
- Pages stream from the adapter (any ERP: integration/erp/protocol.py), one transaction per page, bulk writes
  with history rows for the rows that change (counterparties are human-edited rows too); unchanged rows write
  nothing.
- Incremental runs, where the connector keeps a cursor, read what changed since `cursor − overlap` (the ERP's
  clock).
- Staff overrides: every remote value goes through `apply_remote_fields` (one batch per page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from catalog.models import PriceList, Segment
from counterparties.actions import validate_counterparty
from counterparties.errors import InvalidValue
from counterparties.matching import find_match
from counterparties.models import Counterparty, Email, Phone
from counterparties.types import CounterpartyData
from counterparties.validators import normalize_email, normalize_phone
from integration import connectors
from integration.erp.importers.catalog import MAX_ERRORS_KEPT, cursor_name, erp_adapter, note_error
from integration.erp.importers.cursors import get_cursor, set_cursor
from integration.erp.types import ErpCounterparty
from integration.models import Backend, SyncRun
from integration.overrides import load_pins
from integration.syncruns import sync_run

OVERLAP = timedelta(minutes=2)
FIELDS = ("kind", "name", "full_name", "inn", "kpp", "ogrn", "legal_address", "actual_address", "segment_id")
REASON = "ERP counterparties sync"


@dataclass(frozen=True)
class Incoming:
    """One ERP counterparty, validated: the values to hold and the contacts (normalised, primary first)."""

    erp_id: str
    values: dict[str, Any]
    phones: tuple[tuple[str, str], ...]  # (E.164, as typed)
    emails: tuple[str, ...]
    data: CounterpartyData


@dataclass
class PageOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ mapping and validation
def _clean_contacts(values, normalise) -> tuple[list[tuple[str, str]], list[str]]:
    kept: list[tuple[str, str]] = []
    dropped: list[str] = []
    for raw in values:
        if not (raw or "").strip():
            continue
        try:
            normal = normalise(raw)
        except InvalidValue:
            dropped.append(raw)
            continue
        if normal.lower() not in {k.lower() for k, _ in kept}:
            kept.append((normal, raw.strip()))
    return kept, dropped


def incoming(record: ErpCounterparty, segment_id: int | None) -> tuple[Incoming, list[str]]:
    """The validated values of one ERP counterparty and warnings; ValidationError when it cannot be held."""
    phones, bad_phones = _clean_contacts([record.phone, *(c.phone for c in record.contacts)], normalize_phone)
    emails, bad_emails = _clean_contacts([record.email, *(c.email for c in record.contacts)], normalize_email)
    warnings = [f"phone {raw!r} dropped: not a phone number" for raw in bad_phones]
    warnings += [f"e-mail {raw!r} dropped: not an e-mail address" for raw in bad_emails]
    data = validate_counterparty(
        CounterpartyData(
            kind=record.kind,
            name=record.name,
            full_name=record.full_name,
            inn=record.inn,
            kpp=record.kpp,
            ogrn=record.ogrn,
            segment_id=segment_id,
            legal_address=record.legal_address,
            actual_address=record.actual_address,
            erp_id=record.erp_id,
            phones=tuple(p for p, _ in phones),
            emails=tuple(e for e, _ in emails),
        )
    )
    values = {name: getattr(data, name) for name in FIELDS}
    values["name"], values["full_name"] = values["name"][:500], values["full_name"][:1000]
    return (
        Incoming(record.erp_id or "", values, tuple(phones), tuple(data.emails or ()), data),
        warnings,
    )


def _reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{name}: {' '.join(str(m) for m in messages)}" for name, messages in exc.message_dict.items()
    )


def natural_keys(data: CounterpartyData) -> set[tuple[str, ...]]:
    if data.kind == Counterparty.Kind.LEGAL and data.inn:
        return {("legal", data.inn, data.kpp)}
    if data.kind == Counterparty.Kind.ENTREPRENEUR and data.inn:
        return {("entrepreneur", data.inn)}
    return {("phone", p) for p in data.phones or ()} | {("email", e.lower()) for e in data.emails or ()}


# ------------------------------------------------------------------ segments
class Segments:
    """Price type (ERP id) → the client segment buying at that price list; created once when missing."""

    def __init__(self, *, create: bool = True) -> None:
        self.create = create  # a dry run creates nothing
        self._by_price_type: dict[str, int | None] = {}

    def segment_id(self, price_list_erp_id: str | None) -> tuple[int | None, str]:
        """(segment id, warning): None with a warning when the price type is not among our price lists."""
        if not price_list_erp_id:
            return None, ""
        if price_list_erp_id not in self._by_price_type:
            self._by_price_type[price_list_erp_id] = self._resolve(price_list_erp_id)
        found = self._by_price_type[price_list_erp_id]
        return (
            found,
            "" if found else f"price type {price_list_erp_id} is not a known price list (run `prices`)",
        )

    def _resolve(self, price_list_erp_id: str) -> int | None:
        price_list = PriceList.objects.filter(erp_id=price_list_erp_id).first()
        if price_list is None:
            return None
        segment = Segment.objects.filter(price_list=price_list).order_by("pk").first()
        if segment is None and self.create:
            code = (
                price_list.code
                if not Segment.objects.filter(code=price_list.code).exists()
                else (f"erp-{price_list.erp_id}")
            )
            name = (
                price_list.name
                if not Segment.objects.filter(name=price_list.name).exists()
                else (f"{price_list.name} ({code})")
            )
            segment = Segment.objects.create(name=name[:255], code=code[:64], price_list=price_list)
        return segment.pk if segment else None


# ------------------------------------------------------------------ writing
def apply_remote_fields(
    pairs: list[tuple[Counterparty, dict[str, Any]]],
) -> list[tuple[Counterparty, list[str]]]:
    """Set the ERP's values on a batch of counterparties; returns those that changed, with the changed fields.

    The one place remote values meet local rows: staff overrides (pinned values) are applied here.
    """
    pins = load_pins(Counterparty, [counterparty.pk for counterparty, _ in pairs])
    changed: list[tuple[Counterparty, list[str]]] = []
    for counterparty, remote in pairs:
        values = pins.apply(counterparty.pk, remote)
        fields = [name for name, value in values.items() if getattr(counterparty, name) != value]
        for name in fields:
            setattr(counterparty, name, values[name])
        if fields:
            changed.append((counterparty, fields))
    pins.record_conflicts()
    return changed


def _write_contacts(wanted: dict[int, Incoming]) -> set[int]:
    """Make each counterparty's phones and e-mails the ERP's (bulk); returns the ids whose contacts changed."""
    changed: set[int] = set()
    phones: dict[int, dict[str, Phone]] = {pk: {} for pk in wanted}
    for phone in Phone.objects.filter(counterparty_id__in=wanted):
        phones[phone.counterparty_id][phone.number] = phone
    emails: dict[int, dict[str, Email]] = {pk: {} for pk in wanted}
    for email in Email.objects.filter(counterparty_id__in=wanted):
        emails[email.counterparty_id][email.address.lower()] = email
    drop_phones, drop_emails, new_phones, new_emails, primary = [], [], [], [], []
    for pk, item in wanted.items():
        numbers = [n for n, _ in item.phones]
        for number, row in phones[pk].items():
            if number not in numbers:
                drop_phones.append(row.pk)
            elif row.is_primary != (number == numbers[0]):
                row.is_primary = number == numbers[0]
                primary.append(row)
        for i, (number, raw) in enumerate(item.phones):
            if number not in phones[pk]:
                new_phones.append(Phone(counterparty_id=pk, number=number, raw=raw[:64], is_primary=i == 0))
        lowered = [e.lower() for e in item.emails]
        for address, row in emails[pk].items():
            if address not in lowered:
                drop_emails.append(row.pk)
        for i, address in enumerate(item.emails):
            if address.lower() not in emails[pk]:
                new_emails.append(Email(counterparty_id=pk, address=address, is_primary=i == 0))
        if any(p.counterparty_id == pk for p in new_phones) or any(
            e.counterparty_id == pk for e in new_emails
        ):
            changed.add(pk)
    changed |= set(Phone.objects.filter(pk__in=drop_phones).values_list("counterparty_id", flat=True))
    changed |= set(Email.objects.filter(pk__in=drop_emails).values_list("counterparty_id", flat=True))
    Phone.objects.filter(pk__in=drop_phones).delete()
    Email.objects.filter(pk__in=drop_emails).delete()
    Phone.objects.bulk_update(primary, ["is_primary"])
    Phone.objects.bulk_create(new_phones)
    Email.objects.bulk_create(new_emails)
    return changed


def write_page(records: list[ErpCounterparty], segments: Segments, *, dry_run: bool = False) -> PageOutcome:
    """Validate, match and write one page in one transaction."""
    outcome = PageOutcome()
    items: list[Incoming] = []
    for record in records:
        if record.archived:
            continue
        segment_id, warning = segments.segment_id(record.price_list_erp_id)
        if warning:
            outcome.warnings.append(f"{record.name} ({record.erp_id}): {warning}")
        try:
            item, warnings = incoming(record, segment_id)
        except ValidationError as exc:
            outcome.rejected.append(f"{record.name} ({record.erp_id}): {_reason(exc)}")
            continue
        outcome.warnings += [f"{record.name} ({record.erp_id}): {w}" for w in warnings]
        items.append(item)

    with transaction.atomic():
        bound = {
            c.erp_id: c
            for c in Counterparty.objects.select_for_update().filter(erp_id__in=[i.erp_id for i in items])
        }
        held = held_keys(items)
        contacts = contact_keys(c.survivor.pk for c in bound.values())
        claimed: dict[tuple[str, ...], str] = {}  # natural key → the ERP id that holds it in this page
        targets: list[tuple[Counterparty | None, Incoming]] = []
        for item in items:
            local = bound.get(item.erp_id)
            local = local.survivor if local is not None else None
            keys = natural_keys(item.data)
            clash = next((claimed[k] for k in keys if k in claimed), None)
            if (
                clash is None
                and _may_match(item, held)
                and (local is None or _key_changed(local, item, contacts))
            ):
                match = find_match(item.data)
                if match is not None and (local is None or match.pk != local.pk):
                    if local is not None or (match.erp_id and match.erp_id != item.erp_id):
                        clash = match.erp_id or f"#{match.pk}"
                    else:
                        local = match  # ours, not yet bound: bind it
            if clash is not None:
                outcome.rejected.append(
                    f"{item.values['name']} ({item.erp_id}): a duplicate of {clash} by "
                    f"{', '.join('/'.join(k) for k in sorted(keys))}; merge them in the ERP"
                )
                continue
            claimed.update(dict.fromkeys(keys, item.erp_id))
            targets.append((local, item))

        new = [Counterparty(erp_id=item.erp_id, **item.values) for local, item in targets if local is None]
        # A row merged into another keeps its ERP id; its survivor gets the values.
        pairs = [
            (
                local,
                {**item.values, **({"erp_id": item.erp_id} if local.erp_id in (None, item.erp_id) else {})},
            )
            for local, item in targets
            if local is not None
        ]
        changed = apply_remote_fields(pairs)
        now = timezone.now()
        if new:
            for row in new:
                row.created_at = row.updated_at = now
            bulk_create_with_history(new, Counterparty, default_change_reason=REASON, default_date=now)
        created_ids = {c.pk for c in new}
        by_erp = {c.erp_id: c.pk for c in new} | {item.erp_id: local.pk for local, item in targets if local}
        contacts_changed = _write_contacts({by_erp[item.erp_id]: item for _, item in targets})
        touched = {c.pk for c, _ in changed} | (contacts_changed - created_ids)
        rows = [c for c, _ in changed] + [
            local
            for local, _ in pairs
            if local.pk in contacts_changed and local.pk not in {c.pk for c, _ in changed}
        ]
        for row in rows:
            row.updated_at = now
        if rows:
            bulk_update_with_history(
                rows,
                Counterparty,
                [*FIELDS, "erp_id", "updated_at"],
                default_change_reason=REASON,
                default_date=now,
            )
        outcome.created = len(new)
        outcome.updated = len(touched)
        outcome.unchanged = len(targets) - outcome.created - outcome.updated
        if dry_run:
            transaction.set_rollback(True)
    return outcome


def held_keys(items: list[Incoming]) -> set[tuple[str, ...]]:
    """Which natural keys of a page some local counterparty already holds (a few queries for the whole page):
    `find_match` runs only for records that may match, not for every new one."""
    inns = {i.data.inn for i in items if i.data.inn}
    phones = {p for i in items for p in i.data.phones or ()}
    emails = {e.lower() for i in items for e in i.data.emails or ()}
    rows = Counterparty.objects.filter(inn__in=inns).values_list("kind", "inn", "kpp")
    held = {("legal", inn, kpp) if kind == "legal" else (kind, inn) for kind, inn, kpp in rows}
    held |= {("phone", n) for n in Phone.objects.filter(number__in=phones).values_list("number", flat=True)}
    held |= {
        ("email", e)
        for e in Email.objects.annotate(key=Lower("address"))
        .filter(key__in=emails)
        .values_list("key", flat=True)
    }
    return held


def _may_match(item: Incoming, held: set[tuple[str, ...]]) -> bool:
    keys = natural_keys(item.data)
    if item.data.inn:
        keys |= {(item.data.kind, item.data.inn)}  # an individual with an ИНН is also found by it
    return bool(keys & held)


def contact_keys(counterparty_ids) -> dict[int, set[tuple[str, ...]]]:
    """The phone and e-mail keys each of these counterparties holds (two queries)."""
    keys: dict[int, set[tuple[str, ...]]] = {pk: set() for pk in counterparty_ids}
    for pk, number in Phone.objects.filter(counterparty_id__in=keys).values_list("counterparty_id", "number"):
        keys[pk].add(("phone", number))
    for pk, address in Email.objects.filter(counterparty_id__in=keys).values_list(
        "counterparty_id", "address"
    ):
        keys[pk].add(("email", address.lower()))
    return keys


def _key_changed(local: Counterparty, item: Incoming, contacts: dict[int, set[tuple[str, ...]]]) -> bool:
    data = item.data
    if local.kind != data.kind or local.inn != data.inn or local.kpp != data.kpp:
        return True
    return data.kind == Counterparty.Kind.INDIVIDUAL and not natural_keys(data) <= contacts.get(
        local.pk, set()
    )


# ------------------------------------------------------------------ the sync
def sync_counterparties(
    backend: Backend, *, full: bool = False, dry_run: bool = False, progress=None
) -> SyncRun:
    adapter = erp_adapter(backend)
    incremental_cursor = connectors.capabilities_for(backend).incremental_cursor
    cursor = None if full or not incremental_cursor else get_cursor(backend, cursor_name(backend, "counterparties"))
    since = cursor - OVERLAP if cursor else None
    with sync_run(backend, "counterparties", full=since is None, dry_run=dry_run) as run:
        segments = Segments(create=not dry_run)
        newest = cursor
        done = 0
        for page in adapter.iter_counterparties(since=since):
            outcome = write_page(page, segments, dry_run=dry_run)
            run.created += outcome.created
            run.updated += outcome.updated
            run.unchanged += outcome.unchanged
            run.skipped += sum(1 for r in page if r.archived)
            for message in outcome.rejected:
                note_error(run, message)
            warnings = run.details.setdefault("warnings", [])
            warnings += outcome.warnings[: max(0, MAX_ERRORS_KEPT - len(warnings))]
            newest = max(filter(None, (newest, *(r.updated_at for r in page))), default=None)
            done += len(page)
            if progress:
                progress(done)
        run.save(update_fields=["created", "updated", "unchanged", "skipped", "failed", "details"])
        if newest and not dry_run and incremental_cursor:
            set_cursor(backend, cursor_name(backend, "counterparties"), newest)
    return run
