"""Builders for counterparties with valid requisites (tests only)."""

from itertools import count

from counterparties.models import Counterparty, Email, Phone
from counterparties.validators import inn_check_digits, normalize_phone, ogrn_check_digit

_seq = count(100)


def new_inn10() -> str:
    body = f"77{next(_seq):07d}"
    return body + inn_check_digits(body)


def new_inn12() -> str:
    body = f"50{next(_seq):08d}"
    return body + inn_check_digits(body)


def legal(name: str = "", *, inn: str = "", kpp: str = "770101001", **fields) -> Counterparty:
    inn = inn or new_inn10()
    body = f"10277{next(_seq):07d}"
    return Counterparty.objects.create(kind="legal", name=name or f"ООО «Ромашка {inn}»", inn=inn, kpp=kpp,
                                       ogrn=body + ogrn_check_digit(body), **fields)


def entrepreneur(name: str = "", *, inn: str = "", **fields) -> Counterparty:
    inn = inn or new_inn12()
    return Counterparty.objects.create(kind="entrepreneur", name=name or f"ИП Иванов {inn}", inn=inn, **fields)


def individual(name: str = "", *, phones=(), emails=(), **fields) -> Counterparty:
    person = Counterparty.objects.create(kind="individual", name=name or f"Человек {next(_seq)}", **fields)
    for n, raw in enumerate(phones):
        Phone.objects.create(counterparty=person, number=normalize_phone(raw), raw=raw, is_primary=n == 0)
    for n, address in enumerate(emails):
        Email.objects.create(counterparty=person, address=address, is_primary=n == 0)
    return person
