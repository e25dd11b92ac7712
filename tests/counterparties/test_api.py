import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from counterparties.models import Counterparty
from integration.staff.groups import ADMIN_GROUP, AUDITOR_GROUP, OPERATOR_GROUP

from . import factories as f

pytestmark = pytest.mark.django_db
URL = "/api/v1/counterparties/"


def staff_user(username: str, group: str | None = ADMIN_GROUP):
    user = get_user_model().objects.create_user(username, is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def staff_client(client):
    client.force_login(staff_user("staff"))
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


def test_external_ids_are_read_only(staff_client):
    """ERP and CRM ids bind a row to a remote record: only the syncs set them, never the staff API."""
    existing = f.legal(erp_id="ms-1", crm_id="amo-1")
    response = post(staff_client, {"kind": "legal", "name": "Другая", "inn": "7707083893", "kpp": "770701001",
                                   "erp_id": "ms-1", "crm_id": "amo-2"})
    assert response.status_code == 201, response.json()
    assert response.json()["erp_id"] is None and response.json()["crm_id"] is None
    created = Counterparty.objects.get(pk=response.json()["id"])
    assert (created.erp_id, created.crm_id) == (None, None)
    url = f"{URL}{existing.pk}/"
    response = staff_client.patch(url, {"erp_id": "ms-9", "crm_id": None, "name": "Ромашка"},
                                  content_type="application/json")
    assert response.status_code == 200, response.json()
    assert (response.json()["erp_id"], response.json()["crm_id"]) == ("ms-1", "amo-1")
    existing.refresh_from_db()
    assert (existing.erp_id, existing.crm_id, existing.name) == ("ms-1", "amo-1", "Ромашка")


BODY = {"kind": "legal", "name": "ООО «Ромашка»", "inn": "7707083893", "kpp": "770701001"}


@pytest.mark.parametrize("group", [AUDITOR_GROUP, OPERATOR_GROUP, None])
def test_staff_without_the_model_rights_read_at_most_and_change_nothing(client, group):
    existing = f.legal(name="Старое имя")
    client.force_login(staff_user("reader", group))
    reads = client.get(URL).status_code, client.get(f"{URL}{existing.pk}/").status_code
    assert reads == ((200, 200) if group else (403, 403))
    assert post(client, BODY).status_code == 403
    for method in (client.patch, client.put):
        response = method(f"{URL}{existing.pk}/", {**BODY, "name": "Новое имя"}, content_type="application/json")
        assert response.status_code == 403
    assert client.delete(f"{URL}{existing.pk}/").status_code in (403, 405)
    assert list(Counterparty.objects.values_list("name", flat=True)) == ["Старое имя"]
    assert not existing.history.filter(history_change_reason="staff API").exists()
