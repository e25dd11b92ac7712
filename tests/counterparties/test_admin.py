import re

import pytest
from django.urls import reverse

from counterparties.models import Counterparty
from orders.models import Order

from . import factories as f

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:counterparties_counterparty_changelist")
ADD = reverse("admin:counterparties_counterparty_add")


def inline_data(phones=(), emails=()):
    data = {"phones-TOTAL_FORMS": str(len(phones)), "phones-INITIAL_FORMS": "0",
            "emails-TOTAL_FORMS": str(len(emails)), "emails-INITIAL_FORMS": "0"}
    for n, number in enumerate(phones):
        data[f"phones-{n}-number"] = number
    for n, address in enumerate(emails):
        data[f"emails-{n}-address"] = address
    return data


def test_search_by_inn_and_by_phone_in_any_spelling(admin_client):
    company = f.legal("ООО «Искра»", inn="7707083893")
    person = f.individual("Петров", phones=["+79161234567"])
    f.legal("ООО «Другая»")
    page = admin_client.get(CHANGELIST, {"q": "7707083893"}).content.decode()
    assert "ООО «Искра»" in page and "ООО «Другая»" not in page
    for query in ("+79161234567", "8 (916) 123-45-67"):
        page = admin_client.get(CHANGELIST, {"q": query}).content.decode()
        assert "Петров" in page and "Искра" not in page, query
    assert admin_client.get(reverse("admin:counterparties_counterparty_change", args=[company.pk])).status_code == 200
    assert admin_client.get(reverse("admin:counterparties_counterparty_change", args=[person.pk])).status_code == 200


def test_duplicate_filter_lists_suspected_duplicates(admin_client):
    f.individual("Петров", phones=["+79161234567"])
    f.individual("Петров П.", phones=["+79161234567"])
    f.individual("Сидоров", phones=["+79031234567"])
    page = admin_client.get(CHANGELIST, {"duplicates": "duplicate"}).content.decode()
    assert "Петров П." in page and "Сидоров" not in page


@pytest.mark.parametrize(("language", "words"), [("en", ("INN", "check digit")), ("ru", ("ИНН", "контрольное"))])
def test_form_shows_field_and_reason(admin_client, language, words):
    data = {"kind": "legal", "name": "ООО «Ромашка»", "inn": "7707083894", "kpp": "770701001", **inline_data()}
    response = admin_client.post(ADD, data, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"inn"}
    assert all(word in errors["inn"][0] for word in words)
    assert Counterparty.objects.count() == 0


def test_form_normalises_and_checks_contacts(admin_client):
    data = {"kind": "individual", "name": "Иванов", **inline_data(phones=["+7 701 123 4567"])}
    response = admin_client.post(ADD, data)
    assert response.status_code == 200
    assert "KZ" in str(response.context["inline_admin_formsets"][0].formset.errors)
    response = admin_client.post(ADD, {"kind": "individual", "name": "Иванов", **inline_data()})
    assert response.status_code == 200
    assert "phone or an e-mail" in str(response.context["inline_admin_formsets"][1].formset.non_form_errors())
    response = admin_client.post(ADD, {"kind": "individual", "name": "Иванов",
                                       **inline_data(phones=["8 (916) 123-45-67"], emails=[" A@MAIL.RU "])})
    assert response.status_code == 302
    person = Counterparty.objects.get()
    assert list(person.phones.values_list("number", "raw")) == [("+79161234567", "8 (916) 123-45-67")]
    assert list(person.emails.values_list("address", flat=True)) == ["A@mail.ru"]


def test_merge_action_shows_the_plan_then_merges(admin_client):
    survivor = f.individual("Петров", phones=["+79161234567"], erp_id="erp-1")
    dup = f.individual("Петров П.", phones=["+79161234567", "+79031112233"])
    Order.objects.create(counterparty=dup)
    selection = {"action": "merge_selected", "_selected_action": [survivor.pk, dup.pk]}

    page = admin_client.post(CHANGELIST, selection)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="merge-plan"' in html and "+79031112233" in html and "orders.Order" in html
    assert 'id="merge-unrelated"' not in html
    assert Counterparty.objects.get(pk=dup.pk).merged_into_id is None

    refused = admin_client.post(CHANGELIST, {**selection, "survivor": survivor.pk, "reason": "", "confirm": "yes"})
    assert refused.status_code == 200  # the reason is required
    assert Counterparty.objects.get(pk=dup.pk).merged_into_id is None

    done = admin_client.post(CHANGELIST, {**selection, "survivor": survivor.pk, "reason": "дубль", "confirm": "yes"},
                             follow=True)
    assert done.status_code == 200
    assert Counterparty.objects.get(pk=dup.pk).merged_into_id == survivor.pk
    assert Order.objects.get().counterparty_id == survivor.pk
    assert "merged" in done.content.decode()


def test_the_plan_page_carries_ids_above_a_thousand_as_they_are(admin_client):
    """The admin shows numbers with thousand separators; the ids the confirmation posts back must not have them."""
    from django.db import connection

    with connection.cursor() as cursor:  # a busy database: ids past 999
        cursor.execute("SELECT setval(pg_get_serial_sequence('counterparties_counterparty', 'id'), 1500)")
    survivor = f.individual("Петров", phones=["+79161234567"])
    dup = f.individual("Петров П.", phones=["+79161234567"])
    selection = {"action": "merge_selected", "_selected_action": [survivor.pk, dup.pk]}
    html = admin_client.post(CHANGELIST, selection).content.decode()
    posted_back = re.findall(r'name="_selected_action" value="([^"]*)"', html)
    assert sorted(posted_back) == sorted([str(survivor.pk), str(dup.pk)]), posted_back

    # …and what the browser sends back from that page merges them
    back = {"action": "merge_selected", "_selected_action": posted_back}
    done = admin_client.post(CHANGELIST, {**back, "survivor": survivor.pk, "reason": "дубль", "confirm": "yes"})
    assert done.status_code == 302
    assert Counterparty.objects.get(pk=dup.pk).merged_into_id == survivor.pk


def test_merge_action_explains_a_refusal(admin_client):
    a, b = f.legal(inn="7707083893", kpp="770701001"), f.legal(inn="7707083893", kpp="781043001")
    page = admin_client.post(CHANGELIST, {"action": "merge_selected", "_selected_action": [a.pk, b.pk]})
    html = page.content.decode()
    assert 'id="merge-refused"' in html and "branches" in html
    assert 'id="merge-confirm"' not in html


def test_merge_action_warns_about_rows_sharing_no_key(admin_client):
    a = f.individual("Петров", phones=["+79161234567"])
    b = f.individual("Сидоров", phones=["+79031112233"])
    html = admin_client.post(CHANGELIST, {"action": "merge_selected", "_selected_action": [a.pk, b.pk]}).content.decode()
    assert 'id="merge-unrelated"' in html and 'id="merge-confirm"' in html


# --- ERP-bound counterparties are read-only while the ERP is the master (issue 11, item 20) ----------------------


@pytest.fixture
def erp(db):
    from integration.models import Backend

    return Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url="https://ms.example/api")


def edit_data(person, segment, **changes) -> dict:
    data = {"kind": person.kind, "name": person.name, "full_name": "", "inn": person.inn, "kpp": person.kpp,
            "ogrn": person.ogrn, "legal_address": "", "actual_address": "",
            "segment": segment.pk if segment else "", "erp_id": person.erp_id or "", "crm_id": "", **changes}
    phones = list(person.phones.all())
    data.update({"phones-TOTAL_FORMS": str(len(phones)), "phones-INITIAL_FORMS": str(len(phones)),
                 "emails-TOTAL_FORMS": "0", "emails-INITIAL_FORMS": "0"})
    for n, phone in enumerate(phones):
        data.update({f"phones-{n}-id": phone.pk, f"phones-{n}-counterparty": person.pk,
                     f"phones-{n}-number": "+79990000000"})
    return data


def test_erp_bound_counterparty_keeps_its_requisites_but_takes_a_local_segment(admin_client, erp):
    from catalog.models import PriceList, Segment

    dealers = Segment.objects.create(name="Дилеры", code="dealers",
                                     price_list=PriceList.objects.create(name="Дилерская", code="dealer"))
    bound = f.legal("ООО «Из ERP»", inn="7707083893", erp_id="agent-1")
    bound.phones.create(number="+79161234567", raw="+79161234567", is_primary=True)
    change = reverse("admin:counterparties_counterparty_change", args=[bound.pk])
    page = admin_client.get(change).content.decode()
    assert 'name="name"' not in page and 'name="inn"' not in page and 'name="segment"' in page
    assert "Local and editable here: the client segment" in page
    response = admin_client.post(change, edit_data(bound, dealers, name="ООО «Переименовано»", inn="7736050003"))
    assert response.status_code == 302, response.content.decode()[:3000]
    bound.refresh_from_db()
    assert (bound.name, bound.inn, bound.erp_id, bound.segment) == ("ООО «Из ERP»", "7707083893", "agent-1", dealers)
    assert list(bound.phones.values_list("number", flat=True)) == ["+79161234567"]  # contacts come from the ERP
    delete = reverse("admin:counterparties_counterparty_delete", args=[bound.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Counterparty.objects.filter(pk=bound.pk).exists()


def test_local_counterparty_stays_editable_and_new_ones_can_be_added(admin_client, erp):
    local = f.legal("ООО «Местное»", inn="7707083893")
    assert ADD in admin_client.get(CHANGELIST).content.decode()
    change = reverse("admin:counterparties_counterparty_change", args=[local.pk])
    assert "Mirrored from the ERP" not in admin_client.get(change).content.decode()
    response = admin_client.post(change, edit_data(local, None, name="ООО «Местное-2»"))
    assert response.status_code == 302, response.content.decode()[:3000]
    local.refresh_from_db()
    assert local.name == "ООО «Местное-2»"
    delete = reverse("admin:counterparties_counterparty_delete", args=[local.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Counterparty.objects.filter(pk=local.pk).exists()
