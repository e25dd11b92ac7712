"""Validators and normalisers for Russian requisites (ИНН, КПП, ОГРН/ОГРНИП), phones and e-mails.

Own implementations (python-stdnum accepts an all-zero ИНН and rejects valid ОГРНИП whose remainder
mod 13 is 10–12). Each function returns the normalised value or raises `InvalidValue(field, reason)`.
"""

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext_lazy as _

from .errors import InvalidValue

INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
KPP_RE = re.compile(r"^\d{4}[\dA-Z]{2}\d{3}$")

LABELS = {
    "inn": _("INN"),
    "kpp": _("KPP"),
    "ogrn": _("OGRN"),
    "ogrnip": _("OGRNIP"),
    "phone": _("Phone"),
    "email": _("E-mail"),
}

MESSAGES = {
    "not_digits": _("%(label)s must contain digits only, got “%(value)s”."),
    "length": _("%(label)s must be %(expected)s digits long, got %(length)s."),
    "all_zeros": _("%(label)s cannot consist of zeros only."),
    "checksum": _("%(label)s “%(value)s” has a wrong check digit."),
    "format": _("%(label)s “%(value)s” does not match the format %(expected)s."),
    "first_digit": _("%(label)s must start with %(expected)s, got “%(value)s”."),
    "invalid": _("%(label)s “%(value)s” is not valid."),
    "foreign": _("%(label)s “%(value)s” belongs to %(region)s; only Russian numbers are allowed."),
    "required": _("%(label)s is required."),
    "not_allowed": _("%(label)s is not used for this kind of counterparty."),
}


def invalid(field: str, reason: str, label_key: str | None = None, **params) -> InvalidValue:
    label = LABELS[label_key or field]
    return InvalidValue(field, reason, MESSAGES[reason], {"label": label, **params})


def _strip(value: str | None) -> str:
    return re.sub(r"[\s\-]", "", value or "")


def _digits(value: str, field: str, lengths: tuple[int, ...], label_key: str | None = None) -> str:
    if not value:
        raise invalid(field, "required", label_key)
    if not value.isdigit() or not value.isascii():
        raise invalid(field, "not_digits", label_key, value=value)
    if len(value) not in lengths:
        expected = str(_(" or ")).join(str(n) for n in lengths)
        raise invalid(field, "length", label_key, value=value, expected=expected, length=len(value))
    if not value.strip("0"):
        raise invalid(field, "all_zeros", label_key, value=value)
    return value


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def inn_check_digits(body: str) -> str:
    """The check digit(s) for the first 9 (ИНН-10) or 10 (ИНН-12) digits."""
    if len(body) == 9:
        return str(_weighted(body, INN10_WEIGHTS))
    d11 = str(_weighted(body, INN12_WEIGHTS_11))
    return d11 + str(_weighted(body + d11, INN12_WEIGHTS_12))


def ogrn_check_digit(body: str) -> str:
    """ОГРН (12-digit body): mod 11; ОГРНИП (14-digit body): mod 13, both then mod 10."""
    return str(int(body) % (11 if len(body) == 12 else 13) % 10)


def validate_inn(value: str | None, *, lengths: tuple[int, ...] = (10, 12), field: str = "inn") -> str:
    inn = _digits(_strip(value), field, lengths, "inn")
    body = inn[:9] if len(inn) == 10 else inn[:10]
    if inn[len(body):] != inn_check_digits(body):
        raise invalid(field, "checksum", "inn", value=inn)
    return inn


def validate_kpp(value: str | None, *, field: str = "kpp") -> str:
    kpp = _strip(value).upper()
    if not KPP_RE.match(kpp):
        raise invalid(field, "format", "kpp", value=kpp, expected="NNNNXXNNN")
    if not kpp.strip("0"):
        raise invalid(field, "all_zeros", "kpp", value=kpp)
    return kpp


def validate_ogrn(value: str | None, *, field: str = "ogrn") -> str:
    """ОГРН of a legal entity: 13 digits, starts with 1 or 5."""
    ogrn = _digits(_strip(value), field, (13,), "ogrn")
    if ogrn[0] not in "15":
        raise invalid(field, "first_digit", "ogrn", value=ogrn, expected="1 / 5")
    if ogrn[-1] != ogrn_check_digit(ogrn[:-1]):
        raise invalid(field, "checksum", "ogrn", value=ogrn)
    return ogrn


def validate_ogrnip(value: str | None, *, field: str = "ogrn") -> str:
    """ОГРНИП of an entrepreneur: 15 digits, starts with 3, check digit int(first 14) % 13 % 10."""
    ogrnip = _digits(_strip(value), field, (15,), "ogrnip")
    if ogrnip[0] != "3":
        raise invalid(field, "first_digit", "ogrnip", value=ogrnip, expected="3")
    if ogrnip[-1] != ogrn_check_digit(ogrnip[:-1]):
        raise invalid(field, "checksum", "ogrnip", value=ogrnip)
    return ogrnip


def normalize_phone(value: str | None, *, russia_only: bool = True, field: str = "phone") -> str:
    """Any common Russian spelling (8-prefix, spaces, brackets, dashes) → E.164 (+7…).

    +7 is shared with Kazakhstan (+7 6xx/7xx): rejected with reason `foreign` unless `russia_only` is off.
    """
    raw = (value or "").strip()
    if not raw:
        raise invalid(field, "required", "phone")
    try:
        number = phonenumbers.parse(raw, "RU")
    except phonenumbers.NumberParseException:
        raise invalid(field, "invalid", "phone", value=raw) from None
    if not phonenumbers.is_valid_number(number):
        raise invalid(field, "invalid", "phone", value=raw)
    region = phonenumbers.region_code_for_number(number)
    if russia_only and region != "RU":
        raise invalid(field, "foreign", "phone", value=raw, region=region or "?")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_email_validator = EmailValidator()


def normalize_email(value: str | None, *, field: str = "email") -> str:
    """Trimmed, domain lower-cased (the local part is case-sensitive by the RFC), then checked."""
    address = (value or "").strip()
    if not address:
        raise invalid(field, "required", "email")
    local, at, domain = address.rpartition("@")
    if at:
        address = f"{local}@{domain.lower()}"
    try:
        _email_validator(address)
    except ValidationError:
        raise invalid(field, "invalid", "email", value=address) from None
    return address


def validate_requisites(
    kind: str, *, inn: str = "", kpp: str = "", ogrn: str = "", has_contact: bool | None = None
) -> dict[str, str]:
    """Check the requisites a counterparty of `kind` needs; return them normalised.

    legal: 10-digit ИНН and КПП required, ОГРН (13) optional; entrepreneur: 12-digit ИНН required,
    ОГРНИП (15) optional, no КПП; individual: 12-digit ИНН optional, no КПП/ОГРН, and a phone or an
    e-mail (checked when `has_contact` is given). All errors are collected into one ValidationError
    keyed by field.
    """
    errors: dict[str, list] = {}
    result = {"inn": _strip(inn), "kpp": _strip(kpp).upper(), "ogrn": _strip(ogrn)}

    def add(field: str, error: InvalidValue) -> None:
        errors.setdefault(field, []).append(error)

    def check(field: str, fn, value: str, *, required: bool, **kwargs) -> None:
        if not result[field]:
            if required:
                add(field, invalid(field, "required"))
            return
        try:
            result[field] = fn(value, **kwargs)
        except InvalidValue as exc:
            add(field, exc)

    if kind == "legal":
        check("inn", validate_inn, inn, required=True, lengths=(10,))
        check("kpp", validate_kpp, kpp, required=True)
        check("ogrn", validate_ogrn, ogrn, required=False)
    elif kind == "entrepreneur":
        check("inn", validate_inn, inn, required=True, lengths=(12,))
        check("ogrn", validate_ogrnip, ogrn, required=False)
    else:
        check("inn", validate_inn, inn, required=False, lengths=(12,))
        if has_contact is False:
            add("phones", InvalidValue("phones", "required", _("An individual needs a phone or an e-mail.")))
    if kind != "legal" and result["kpp"]:
        add("kpp", invalid("kpp", "not_allowed"))
    if kind == "individual" and result["ogrn"]:
        add("ogrn", invalid("ogrn", "not_allowed"))
    if errors:
        raise ValidationError(errors)
    return result
