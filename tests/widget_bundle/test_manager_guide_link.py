"""The widget's settings link the managers' guide on the platform; the link opens it without any login."""

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox, pytest.mark.browser]


def test_the_settings_link_the_managers_guide(open_card, world):
    page = open_card()
    page.click(".demo-card__tab[data-tab='settings']")
    link = page.wait_for_selector(".amoerp-settings__guide a")
    assert link.inner_text() == "Managers' guide: working with the widget"
    assert link.get_attribute("href") == world.url + "/guide/managers/"
    assert link.get_attribute("target") == "_blank"
    page.goto(link.get_attribute("href"))
    assert page.inner_text("h1").startswith("Памятка менеджеру")
