"""The manager's flow in the demo deal card, driving the unchanged widget/script.js in Chromium."""

import pytest

from tests.widget_bundle.conftest import APPROVER, MANAGER  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_card_shows_the_deal_with_its_company_and_contact(open_card, world):
    page = open_card()
    assert page.inner_text("#card_name") == "Кабель для объекта на Профсоюзной"
    assert "ИНН" in page.inner_text("#card_company")
    assert "Сергей Волков" in page.inner_text("#card_contact")
    assert page.inner_text(".card-widgets__widget__caption").strip()
