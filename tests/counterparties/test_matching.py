import pytest

from counterparties.matching import find_duplicate_groups, find_match
from counterparties.models import Counterparty
from counterparties.types import CounterpartyData

from . import factories as f

pytestmark = pytest.mark.django_db


def test_legal_entity_found_by_inn_and_kpp_only():
    company = f.legal(inn="7707083893", kpp="770701001")
    assert find_match(CounterpartyData("legal", inn="7707083893", kpp="770701001")) == company
    assert find_match(CounterpartyData("legal", inn=" 7707083893", kpp="770701001 ")) == company
    assert find_match(CounterpartyData("legal", inn="7707083893", kpp="780101001")) is None
    assert find_match(CounterpartyData("entrepreneur", inn="7707083893")) is None


def test_entrepreneur_found_by_inn():
    ip = f.entrepreneur(inn="500100732259")
    assert find_match(CounterpartyData("entrepreneur", inn="500100732259")) == ip


def test_individual_found_by_phone_in_any_spelling_or_by_email_case_insensitively():
    person = f.individual(phones=["+79161234567"], emails=["Petrov@mail.ru"])
    assert find_match(CounterpartyData("individual", phones=("8 (916) 123-45-67",))) == person
    assert find_match(CounterpartyData("individual", phones=("bad",), emails=("petrov@MAIL.RU",))) == person
    assert find_match(CounterpartyData("individual", emails=("other@mail.ru",))) is None
    assert find_match(CounterpartyData("individual")) is None


def test_merged_row_resolves_to_its_survivor():
    survivor = f.individual(phones=["+79031112233"])
    merged = f.individual(phones=["+79164445566"])
    Counterparty.objects.filter(pk=merged.pk).update(merged_into=survivor)
    assert find_match(CounterpartyData("individual", phones=("89164445566",))) == survivor


def test_duplicate_groups_join_rows_sharing_any_key_and_list_branches_separately():
    a = f.individual(phones=["+79161234567"])
    b = f.individual(phones=["+79161234567"], emails=["x@mail.ru"])
    c = f.individual(emails=["X@mail.ru"])
    lonely = f.individual(phones=["+79269998877"])
    head = f.legal(inn="7707083893", kpp="770701001", erp_id="erp-head")
    branch = f.legal(inn="7707083893", kpp="781043001")
    merged = f.individual(phones=["+79161234567"])
    Counterparty.objects.filter(pk=merged.pk).update(merged_into=a)

    groups = find_duplicate_groups()
    duplicates = [g for g in groups if g.kind == "duplicate"]
    branches = [g for g in groups if g.kind == "branches"]
    assert len(duplicates) == 1
    assert duplicates[0].counterparty_ids == (a.pk, b.pk, c.pk)
    assert set(duplicates[0].reasons) == {"phone", "email"}
    assert duplicates[0].survivor_id == a.pk
    assert lonely.pk not in duplicates[0].counterparty_ids
    assert len(branches) == 1
    assert branches[0].counterparty_ids == (head.pk, branch.pk)
    assert branches[0].survivor_id == head.pk
