import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from counterparties.errors import InvalidValue
from counterparties.validators import (
    inn_check_digits,
    normalize_email,
    normalize_phone,
    ogrn_check_digit,
    validate_inn,
    validate_kpp,
    validate_ogrn,
    validate_ogrnip,
    validate_requisites,
)


def reason_of(fn, value, **kwargs) -> str:
    with pytest.raises(InvalidValue) as info:
        fn(value, **kwargs)
    return info.value.reason


@pytest.mark.parametrize("value", ["7707083893", "500100732259", " 7707 083 893 ", "7736050003"])
def test_valid_inn(value):
    assert validate_inn(value) == value.replace(" ", "")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("7707083894", "checksum"),
        ("500100732258", "checksum"),
        ("500100732249", "checksum"),
        ("770708389", "length"),
        ("77070838931", "length"),
        ("7707O83893", "not_digits"),
        ("７７０７０８３８９３", "not_digits"),  # full-width digits are not ASCII digits
        ("0000000000", "all_zeros"),
        ("000000000000", "all_zeros"),
        ("", "required"),
    ],
)
def test_invalid_inn(value, reason):
    assert reason_of(validate_inn, value) == reason


def test_inn_length_restricted_by_kind():
    assert reason_of(validate_inn, "500100732259", lengths=(10,)) == "length"


@pytest.mark.parametrize("value", ["773601001", "7736AB001", "770501001", " 770501001"])
def test_valid_kpp(value):
    assert validate_kpp(value) == value.strip()


@pytest.mark.parametrize("value", ["77360100", "7736010011", "77A601001", "7736ab0 01X", "000000000", "7736-01-001x"])
def test_invalid_kpp(value):
    assert reason_of(validate_kpp, value) in ("format", "all_zeros")


def test_valid_ogrn_and_ogrnip():
    assert validate_ogrn("1022200525819") == "1022200525819"
    assert validate_ogrn("5077746887312") == "5077746887312"
    assert validate_ogrnip("385768585948949") == "385768585948949"


def test_ogrnip_remainder_ten_is_valid_unlike_stdnum():
    # int("30477400000005") % 13 == 10 → check digit 10 % 10 == 0; python-stdnum wrongly rejects it.
    assert int("30477400000005") % 13 == 10
    assert validate_ogrnip("304774000000050") == "304774000000050"
    assert reason_of(validate_ogrnip, "304774000000051") == "checksum"


@pytest.mark.parametrize(
    ("fn", "value", "reason"),
    [
        (validate_ogrn, "1022200525818", "checksum"),
        (validate_ogrn, "3022200525819", "first_digit"),
        (validate_ogrn, "102220052581", "length"),
        (validate_ogrn, "0000000000000", "all_zeros"),
        (validate_ogrnip, "385768585948948", "checksum"),
        (validate_ogrnip, "185768585948949", "first_digit"),
        (validate_ogrnip, "1022200525819", "length"),
        (validate_ogrnip, "38576858594894x", "not_digits"),
    ],
)
def test_invalid_ogrn(fn, value, reason):
    assert reason_of(fn, value) == reason


# --- property tests -----------------------------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def bodies(n, first="0123456789"):
    return st.tuples(st.sampled_from(first), st.text(alphabet="0123456789", min_size=n - 1, max_size=n - 1)).map(
        "".join).filter(lambda s: sum(c != "0" for c in s) >= 2)


W10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
W11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
W12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def remainder(digits: str, weights) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11


def single_digit_changes(value: str):
    for i, d in enumerate(value):
        for other in "0123456789":
            if other != d:
                yield i, value[:i] + other + value[i + 1:]


def assert_changes_fail(value: str, fn, check_positions: range, collision) -> None:
    """Every changed check digit fails; a changed body digit fails unless it hits the known weakness of
    "mod 11 mod 10": a weighted remainder of 10 and of 0 give the same check digit 0 (`collision`)."""
    for position, changed in single_digit_changes(value):
        if position in check_positions or not collision(value, changed):
            with pytest.raises(InvalidValue):
                fn(changed)
        else:
            assert fn(changed) == changed


def collides(pairs):
    return lambda old, new: all({remainder(old[:n], w), remainder(new[:n], w)} <= {0, 10} for n, w in pairs)


@given(bodies(9))
def test_generated_inn10_passes_and_any_single_change_fails(body):
    inn = body + inn_check_digits(body)
    assert validate_inn(inn) == inn
    assert_changes_fail(inn, validate_inn, range(9, 10), collides([(9, W10)]))


@given(bodies(10))
def test_generated_inn12_passes_and_any_single_change_fails(body):
    inn = body + inn_check_digits(body)
    assert validate_inn(inn) == inn

    def collision(old, new):  # both check digits must survive the change
        same_11 = {remainder(old[:10], W11), remainder(new[:10], W11)} <= {0, 10} or \
            remainder(old[:10], W11) == remainder(new[:10], W11)
        same_12 = {remainder(old[:11], W12), remainder(new[:11], W12)} <= {0, 10} or \
            remainder(old[:11], W12) == remainder(new[:11], W12)
        return same_11 and same_12

    assert_changes_fail(inn, validate_inn, range(10, 12), collision)


@given(bodies(12, "15"))
def test_generated_ogrn_passes_and_any_single_change_fails(body):
    ogrn = body + ogrn_check_digit(body)
    assert validate_ogrn(ogrn) == ogrn
    for position, changed in single_digit_changes(ogrn):
        old, new = int(ogrn[:12]) % 11, int(changed[:12]) % 11
        if position == 0 and changed[0] not in "15" or position == 12 or old % 10 != new % 10:
            with pytest.raises(InvalidValue):
                validate_ogrn(changed)


@given(bodies(14, "3"))
def test_generated_ogrnip_passes_and_any_single_change_fails(body):
    ogrnip = body + ogrn_check_digit(body)
    assert validate_ogrnip(ogrnip) == ogrnip
    for position, changed in single_digit_changes(ogrnip):
        old, new = int(ogrnip[:14]) % 13, int(changed[:14]) % 13
        if position == 0 or position == 14 or old % 10 != new % 10:
            with pytest.raises(InvalidValue):
                validate_ogrnip(changed)


# --- phones and e-mails -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("8 (912) 345-67-89", "+79123456789"),
        ("9123456789", "+79123456789"),
        ("89123456789", "+79123456789"),
        ("79123456789", "+79123456789"),
        ("+7 912 345 67 89", "+79123456789"),
        ("8-495-123-45-67", "+74951234567"),
        ("8 800 555-35-35", "+78005553535"),
    ],
)
def test_phones_normalised_to_e164(raw, e164):
    assert normalize_phone(raw) == e164


def test_kazakhstan_number_flagged_where_only_russia_is_allowed():
    with pytest.raises(InvalidValue) as info:
        normalize_phone("+7 701 123 4567")
    assert info.value.reason == "foreign"
    assert "KZ" in info.value.messages[0]
    assert normalize_phone("+7 701 123 4567", russia_only=False) == "+77011234567"


@pytest.mark.parametrize(("raw", "reason"), [("", "required"), ("12345", "invalid"), ("phone", "invalid"),
                                             ("+7 912 345 67 8", "invalid")])
def test_bad_phones(raw, reason):
    assert reason_of(normalize_phone, raw) == reason


@pytest.mark.parametrize(
    ("raw", "clean"),
    [(" Ivan@MAIL.Ru ", "Ivan@mail.ru"), ("info@elektro.ru", "info@elektro.ru"), ("A.B+tag@Sub.Example.COM", "A.B+tag@sub.example.com")],
)
def test_emails_trimmed_and_domain_lower_cased(raw, clean):
    assert normalize_email(raw) == clean


@pytest.mark.parametrize("raw", ["ivan", "ivan@", "@mail.ru", "ivan@@mail.ru", "ivan@mail", "iv an@mail.ru", ""])
def test_bad_emails(raw):
    assert reason_of(normalize_email, raw) in ("invalid", "required")


# --- kind rules and messages --------------------------------------------------------------------

def test_legal_entity_needs_inn10_and_kpp():
    with pytest.raises(ValidationError) as info:
        validate_requisites("legal", inn="500100732259", kpp="")
    assert set(info.value.error_dict) == {"inn", "kpp"}
    assert validate_requisites("legal", inn="7707083893", kpp="770701001", ogrn="1022200525819") == {
        "inn": "7707083893", "kpp": "770701001", "ogrn": "1022200525819"}


def test_entrepreneur_needs_inn12_and_no_kpp():
    with pytest.raises(ValidationError) as info:
        validate_requisites("entrepreneur", inn="7707083893", kpp="770701001", ogrn="1022200525819")
    assert set(info.value.error_dict) == {"inn", "kpp", "ogrn"}
    assert validate_requisites("entrepreneur", inn="500100732259", ogrn="304774000000050")["ogrn"] == "304774000000050"


def test_individual_needs_a_contact_and_inn_is_optional():
    with pytest.raises(ValidationError) as info:
        validate_requisites("individual", has_contact=False)
    assert set(info.value.error_dict) == {"phones"}
    assert validate_requisites("individual", has_contact=True)["inn"] == ""
    with pytest.raises(ValidationError):
        validate_requisites("individual", inn="7707083893", has_contact=True)


def test_messages_name_the_field_in_russian_and_english():
    for language, word in (("en", "INN"), ("ru", "ИНН")):
        with translation.override(language):
            with pytest.raises(InvalidValue) as info:
                validate_inn("7707083894")
            assert word in info.value.messages[0]
        assert info.value.field == "inn"
