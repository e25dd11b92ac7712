import pytest
from django.contrib.auth import get_user_model

from counterparties.models import Counterparty

from . import factories as f

pytestmark = pytest.mark.django_db
URL = "/api/v1/counterparties/"


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_user("staff", is_staff=True))
    return client


def post(client, data, language="en"):
    return client.post(URL, data, content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)


def test_staff_only(client):
    assert client.get(URL).status_code in (401, 403)
    client.force_login(get_user_model().objects.create_user("manager", is_staff=False))
    assert client.get(URL).status_code == 403


def test_create_legal_entity_normalised_with_contacts(staff_client):
    response = post(staff_client, {
        "kind": "legal", "name": "ООО «Ромашка»", "inn": "7707 083 893", "kpp": "770701001",
        "ogrn": "1022200525819", "phones": ["8 (495) 123-45-67"], "emails": [" Info@Romashka.RU "],
    })
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["inn"] == "7707083893"
    assert body["phones"] == ["+74951234567"]
    assert body["emails"] == ["Info@romashka.ru"]
    company = Counterparty.objects.get(pk=body["id"])
    assert company.phones.get().raw == "8 (495) 123-45-67"
    assert company.history.latest().history_change_reason == "staff API"


@pytest.mark.parametrize(
    ("language", "inn_word", "phone_word"),
    [("en", "INN", "Phone"), ("ru", "ИНН", "Телефон")],
)
def test_bad_input_gives_400_with_a_message_per_field(staff_client, language, inn_word, phone_word):
    response = post(staff_client, {
        "kind": "legal", "name": "ООО «Ромашка»", "inn": "7707083894", "kpp": "77070100",
        "phones": ["+7 701 123 4567", "89161234567"], "emails": ["not-an-email"],
    }, language)
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"inn", "kpp", "phones", "emails"}
    assert inn_word in errors["inn"][0]
    assert phone_word in errors["phones"][0] and "KZ" in errors["phones"][0]
    assert Counterparty.objects.count() == 0


def test_individual_needs_a_contact(staff_client):
    response = post(staff_client, {"kind": "individual", "name": "Иванов"})
    assert response.status_code == 400
    assert "phones" in response.json()


def test_duplicate_refused_with_the_existing_row_named(staff_client):
    existing = f.individual("Петров", phones=["+79161234567"])
    response = post(staff_client, {"kind": "individual", "name": "Петров П.", "phones": ["8 916 123 45 67"]})
    assert response.status_code == 400
    assert f"#{existing.pk}" in response.json()["phones"][0]
    legal = f.legal(inn="7707083893", kpp="770701001")
    response = post(staff_client, {"kind": "legal", "name": "Дубль", "inn": "7707083893", "kpp": "770701001"})
    assert response.status_code == 400
    assert f"#{legal.pk}" in response.json()["inn"][0]


def test_update_replaces_contacts_and_partial_update_keeps_them(staff_client):
    person = f.individual("Петров", phones=["+79161234567"], emails=["a@mail.ru"])
    url = f"{URL}{person.pk}/"
    response = staff_client.patch(url, {"name": "Петров Пётр"}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["phones"] == ["+79161234567"]
    response = staff_client.patch(url, {"phones": ["+7 903 111 22 33"], "emails": []}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["phones"] == ["+79031112233"]
    assert response.json()["emails"] == []
    response = staff_client.patch(url, {"phones": [], "emails": []}, content_type="application/json")
    assert response.status_code == 400
    person.refresh_from_db()
    assert list(person.phones.values_list("number", flat=True)) == ["+79031112233"]


def test_list_filters(staff_client):
    person = f.individual("Петров", phones=["+79161234567"])
    f.legal()
    response = staff_client.get(URL, {"phone": "8 (916) 123-45-67"})
    assert [row["id"] for row in response.json()["results"]] == [person.pk]
    assert staff_client.get(URL, {"kind": "legal"}).json()["count"] == 1
    page = staff_client.get(URL, {"limit": 1})
    assert page.json()["count"] == 2 and len(page.json()["results"]) == 1 and page.json()["next"]
    assert staff_client.get(URL, {"phone": "12"}).status_code == 400


def test_external_ids_are_unique(staff_client):
    existing = f.legal(erp_id="ms-1")
    response = post(staff_client, {"kind": "legal", "name": "Другая", "inn": "7707083893", "kpp": "770701001",
                                   "erp_id": "ms-1"})
    assert response.status_code == 400
    assert f"#{existing.pk}" in response.json()["erp_id"][0]
