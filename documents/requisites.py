"""Our organization's requisites: validation (ИНН/КПП/ОГРН with the counterparties validators, БИК and
account numbers with the Bank of Russia control key) and storing what the ERP reports.

Account control key (Bank of Russia rule): the 3 last digits of the БИК (for a correspondent account:
"0" + digits 5–6 of the БИК) followed by the 20-digit account, weighted 7, 1, 3, 7, 1, 3 …, sum to a
multiple of 10.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from counterparties.errors import InvalidValue
from counterparties.validators import validate_requisites

from .models import OurOrganization
from .types import OrganizationInput

WEIGHTS = ((7, 1, 3) * 8)[:23]  # 3 digits from the БИК + 20 of the account
LABELS = {
    "bik": _("BIK"),
    "account": _("Settlement account"),
    "correspondent_account": _("Correspondent account"),
}


def _invalid(field: str, reason: str, message, **params) -> InvalidValue:
    return InvalidValue(field, reason, message, {"label": LABELS[field], **params})


def _digits(value: str, field: str, length: int) -> str:
    value = "".join(value.split())
    if not value.isascii() or not value.isdigit() or len(value) != length:
        raise _invalid(field, "format", _("%(label)s must be %(length)s digits, got “%(value)s”."),
                       length=length, value=value)
    return value


def _control_key_ok(prefix: str, account: str) -> bool:
    return sum(int(d) * w for d, w in zip(prefix + account, WEIGHTS, strict=True)) % 10 == 0


def validate_bik(value: str, *, field: str = "bik") -> str:
    bik = _digits(value, field, 9)
    if not bik.startswith("04"):
        raise _invalid(field, "format", _("%(label)s “%(value)s” must start with 04."), value=bik)
    return bik


def validate_account(value: str, bik: str, *, field: str = "account") -> str:
    account = _digits(value, field, 20)
    if not _control_key_ok(bik[-3:], account):
        raise _invalid(field, "checksum", _("%(label)s “%(value)s” does not match BIK %(bik)s (control key)."),
                       value=account, bik=bik)
    return account


def validate_correspondent_account(value: str, bik: str, *, field: str = "correspondent_account") -> str:
    account = _digits(value, field, 20)
    if not account.startswith("301") or not _control_key_ok("0" + bik[4:6], account):
        raise _invalid(field, "checksum", _("%(label)s “%(value)s” does not match BIK %(bik)s (control key)."),
                       value=account, bik=bik)
    return account


def validate_organization(org: OurOrganization) -> None:
    """Normalise the requisites in place; raise one ValidationError keyed by field with every problem.

    The bank block is optional as a whole (УПД and ТОРГ-12 need none), but once any of it is given the
    bank name, БИК and settlement account are required and checked against each other.
    """
    errors: dict[str, list] = {}
    if not org.name.strip():
        errors["name"] = [_invalid_required("name")]
    try:
        values = validate_requisites(org.kind, inn=org.inn, kpp=org.kpp, ogrn=org.ogrn)
        org.inn, org.kpp, org.ogrn = values["inn"], values["kpp"], values["ogrn"]
    except ValidationError as exc:
        for field, messages in exc.error_dict.items():
            errors.setdefault(field, []).extend(messages)
    bank = {"bank_name": org.bank_name, "bik": org.bik, "account": org.account,
            "correspondent_account": org.correspondent_account}
    if any(value.strip() for value in bank.values()):
        for field in ("bank_name", "bik", "account"):
            if not bank[field].strip():
                errors.setdefault(field, []).append(_invalid_required(field))
        try:
            org.bik = validate_bik(org.bik) if org.bik.strip() else ""
        except InvalidValue as exc:
            errors.setdefault("bik", []).append(exc)
        if org.bik and "bik" not in errors:
            for field, check in (("account", validate_account), ("correspondent_account",
                                                                 validate_correspondent_account)):
                if getattr(org, field).strip():
                    try:
                        setattr(org, field, check(getattr(org, field), org.bik))
                    except InvalidValue as exc:
                        errors.setdefault(field, []).append(exc)
    if errors:
        raise ValidationError(errors)


def _invalid_required(field: str) -> InvalidValue:
    label = LABELS.get(field) or OurOrganization._meta.get_field(field).verbose_name
    return InvalidValue(field, "required", _("%(label)s is required."), {"label": label})


def save_erp_organization(backend, data: OrganizationInput) -> OurOrganization:
    """Store (create or update) the organization the ERP backend reported. Invalid requisites raise
    ValidationError (by field) and drop what was stored for the backend: stale ones must not be printed."""
    values = {field: value or "" for field, value in data.__dict__.items()}
    candidate = OurOrganization(source=OurOrganization.Source.ERP, backend=backend, **values)
    try:
        validate_organization(candidate)
    except ValidationError:
        forget_erp_organization(backend)
        raise
    normalised = {field: getattr(candidate, field) for field in values}
    org, _created = OurOrganization.objects.update_or_create(
        backend=backend, defaults={"source": OurOrganization.Source.ERP, **normalised}
    )
    return org


def forget_erp_organization(backend) -> int:
    """The ERP has no organization any more: drop what was stored for it. Returns the rows deleted."""
    return OurOrganization.objects.filter(backend=backend).delete()[0]
