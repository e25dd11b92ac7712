"""Writes: create and update counterparties with their phones and e-mails, validated, in one transaction."""

from dataclasses import replace

from django.core.exceptions import ValidationError
from django.db import transaction

from .errors import DuplicateCounterparty, InvalidValue
from .matching import find_match
from .models import Counterparty, Email, Phone
from .types import CounterpartyData
from .validators import LABELS, normalize_email, normalize_phone, validate_requisites

FIELDS = ("kind", "name", "full_name", "inn", "kpp", "ogrn", "segment_id", "legal_address", "actual_address",
          "erp_id", "crm_id")


def validate_counterparty(data: CounterpartyData, *, existing: Counterparty | None = None) -> CounterpartyData:
    """`data` normalised (requisites, E.164 phones, e-mails) or a ValidationError keyed by field.

    With `existing`, contacts left as None are taken from it for the "phone or e-mail" rule.
    """
    errors: dict[str, list] = {}
    if data.kind not in Counterparty.Kind.values:
        errors["kind"] = [InvalidValue("kind", "invalid", Counterparty._meta.get_field("kind").error_messages[
            "invalid_choice"], {"value": data.kind})]
    if not (data.name or "").strip():
        errors["name"] = [ValidationError(Counterparty._meta.get_field("name").error_messages["blank"], "blank")]
    phones = _contacts(data.phones, normalize_phone, "phones", errors)
    emails = _contacts(data.emails, normalize_email, "emails", errors)
    has_contact = bool(
        (phones if phones is not None else (existing and existing.phones.exists()))
        or (emails if emails is not None else (existing and existing.emails.exists()))
    )
    requisites = {}
    try:
        requisites = validate_requisites(data.kind, inn=data.inn, kpp=data.kpp, ogrn=data.ogrn,
                                         has_contact=has_contact)
    except ValidationError as exc:
        for field, messages in exc.error_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return replace(data, name=data.name.strip(), phones=phones, emails=emails, **requisites)


def _contacts(values, normalise, field: str, errors: dict) -> tuple[str, ...] | None:
    if values is None:
        return None
    result: list[str] = []
    for value in values:
        try:
            normalised = normalise(value, field=field)
        except InvalidValue as exc:
            errors.setdefault(field, []).append(exc)
            continue
        if normalised.lower() not in {r.lower() for r in result}:
            result.append(normalised)
    return tuple(result)


def _check_unique(data: CounterpartyData, exclude_id: int | None) -> None:
    for field in ("erp_id", "crm_id"):
        value = getattr(data, field)
        other = Counterparty.objects.filter(**{field: value}).exclude(pk=exclude_id).first() if value else None
        if other is not None:
            label = Counterparty._meta.get_field(field).verbose_name
            raise ValidationError({field: [DuplicateCounterparty(field, label, other.pk, other.name)]})
    match = find_match(data)
    if match is None or match.pk == exclude_id:
        return
    field = {"legal": "inn", "entrepreneur": "inn"}.get(data.kind)
    if field is None:
        field = "phones" if set(data.phones or ()) & set(match.phones.values_list("number", flat=True)) else "emails"
    label = LABELS["inn"] if field == "inn" else LABELS["phone" if field == "phones" else "email"]
    raise ValidationError({field: [DuplicateCounterparty(field, label, match.pk, match.name)]})


def _write_contacts(counterparty: Counterparty, data: CounterpartyData, raw_phones) -> None:
    if data.phones is not None:
        counterparty.phones.exclude(number__in=data.phones).delete()
        kept = set(counterparty.phones.values_list("number", flat=True))
        raws = dict(zip(data.phones, raw_phones or data.phones, strict=False))
        Phone.objects.bulk_create([
            Phone(counterparty=counterparty, number=n, raw=raws.get(n, n), is_primary=i == 0)
            for i, n in enumerate(data.phones) if n not in kept
        ])
    if data.emails is not None:
        lowered = {e.lower() for e in data.emails}
        for email in counterparty.emails.all():
            if email.address.lower() not in lowered:
                email.delete()
        kept = {a.lower() for a in counterparty.emails.values_list("address", flat=True)}
        Email.objects.bulk_create([
            Email(counterparty=counterparty, address=a, is_primary=i == 0)
            for i, a in enumerate(data.emails) if a.lower() not in kept
        ])


def create_counterparty(data: CounterpartyData, *, user=None, reason: str = "") -> Counterparty:
    """Validate, refuse a duplicate (DuplicateCounterparty in a ValidationError), create with contacts."""
    clean = validate_counterparty(data)
    with transaction.atomic():
        _check_unique(clean, None)
        counterparty = Counterparty(**{f: getattr(clean, f) for f in FIELDS})
        counterparty._history_user = user
        counterparty._change_reason = reason
        counterparty.save()
        _write_contacts(counterparty, clean, data.phones)
    return counterparty


def update_counterparty(counterparty: Counterparty, data: CounterpartyData, *, user=None,
                        reason: str = "") -> Counterparty:
    """Validate and apply `data` (contacts None = unchanged), in one transaction."""
    clean = validate_counterparty(data, existing=counterparty)
    with transaction.atomic():
        counterparty = Counterparty.objects.select_for_update().get(pk=counterparty.pk)
        _check_unique(clean, counterparty.pk)
        for field in FIELDS:
            setattr(counterparty, field, getattr(clean, field))
        counterparty._history_user = user
        counterparty._change_reason = reason
        counterparty.save()
        _write_contacts(counterparty, clean, data.phones)
    return counterparty
