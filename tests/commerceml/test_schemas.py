"""The simulator's files (what 1C sends) and our orders.xml are valid against 1C's 2.08 and 2.10 XSDs."""

import pytest

from integration.sandbox.commerceml import files
from tests.commerceml.conftest import FIXTURES
from tests.commerceml.schemas import schema_errors

NO_ERRORS = {"2.08": [], "2.10": []}


@pytest.mark.parametrize("name", ["import0_1.xml", "offers0_1.xml", "cp1251/import.xml", "cp1251/offers.xml"])
def test_the_demo_fixtures_are_valid(name):
    assert schema_errors((FIXTURES / name).read_bytes()) == NO_ERRORS


def test_the_answers_of_1c_are_valid():
    answer = files.answer_xml([{"Ид": "0b4c", "Номер": "7", "Сумма": "10.00", "Товары": [(files.DEMO[0].erp_id, 2, 5)],
                                "Номер по 1С": "ЗК-1", "Проведен": "true"}], encoding="windows-1251")
    assert schema_errors(answer) == NO_ERRORS


def test_the_fixtures_on_disk_are_what_the_generator_writes(tmp_path):
    files.write_demo(tmp_path)
    for name in ("import0_1.xml", "offers0_1.xml", "cp1251/import.xml", "cp1251/offers.xml"):
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name
