"""Our organization's requisites on documents rendered here, from the user's side: the manager asks for an
invoice through the widget API over HTTP, staff enter or fetch the requisites in the admin, the ERP is the
MoySklad sandbox process. Without requisites nothing is rendered and the reason is shown; with them the
PDF carries them (read back with pypdf)."""

import io

import pytest
import requests
from django.contrib.auth import get_user_model
from pypdf import PdfReader

from catalog.models import VatRate
from documents.models import Document, OurOrganization
from documents.supplier import get_supplier
from integration.amocrm.widget_token import mint_widget_token
from integration.bindings import bind
from integration.models import Backend, OutboxEvent, SyncRun
from integration.sandbox.process import start_sandbox
from tests.orders import factories as f

from .factories import make_counterparty, make_order

pytestmark = [pytest.mark.postgres]

LEAD = 4101
API = "/api/remap/1.2"
STAFF_FORM = {
    "kind": "legal",
    "name": "ООО «Северный ветер»",
    "inn": "7707083893",
    "kpp": "773601001",
    "ogrn": "1027700132195",
    "address": "190000, г. Санкт-Петербург, Невский пр., д. 10",
    "phone": "+7 812 555-01-02",
    "bank_name": "ПАО Сбербанк",
    "bik": "044525225",
    "correspondent_account": "30101810400000000225",
    "account": "40702810200000012345",
    "director": "Орлов П. С.",
    "accountant": "Лебедева Н. В.",
}


@pytest.fixture(scope="module")
def ms_sandbox():
    sandbox = start_sandbox("moysklad")
    yield sandbox
    sandbox.stop()


@pytest.fixture
def empty_erp(ms_sandbox, transactional_db):
    """MoySklad with no organization at all (a fresh account, or one whose organization was removed)."""
    ms_sandbox.reset()
    return _backend(ms_sandbox)


@pytest.fixture
def demo_erp(ms_sandbox, transactional_db):
    """MoySklad seeded with the demo company: its organization ООО «ЭлектроСнаб» with a bank account."""
    ms_sandbox.reset()
    ms_sandbox.control("seed", {"dataset": "demo"})
    return _backend(ms_sandbox)


def _backend(sandbox) -> Backend:
    return Backend.objects.create(
        name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url=sandbox.url + API,
        credentials={"token": "sandbox-token"}, settings={"backoff_seconds": 0.05, "read_attempts": 2},
    )


@pytest.fixture
def amo(transactional_db):
    return f.amocrm_backend()


@pytest.fixture
def order(transactional_db, settings, tmp_path, amo):
    settings.MEDIA_ROOT = tmp_path
    order = make_order([("Кабель ВВГнг 3×2,5", "100", "95.50", VatRate.VAT_22)], counterparty=make_counterparty(),
                       lead_id=LEAD)
    bind(amo, order, str(LEAD))  # the deal's order, as the lead sync or the widget binds it
    return order


@pytest.fixture
def admin_client(client, transactional_db):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "x")
    client.force_login(user)
    return client


def widget(live_server, amo, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"X-Auth-Token": mint_widget_token(amo, 501), "Accept-Language": "en", **kwargs.pop("headers", {})}
    url = live_server.url + (path if path.startswith("/api/") else f"/api/widget/v1{path}")
    return requests.request(method, url, headers=headers, timeout=60, **kwargs)


def ask_for_invoice(live_server, amo) -> requests.Response:
    return widget(live_server, amo, "POST", f"/leads/{LEAD}/documents", json={"kind": "invoice"})


def pdf_text(live_server, amo, url: str) -> str:
    response = widget(live_server, amo, "GET", url, headers={"Accept": "application/pdf"})
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(response.content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).replace("\u00a0", " ").split())


def test_an_erp_without_an_organization_renders_nothing_and_says_why(live_server, empty_erp, amo, order,
                                                                     admin_client):
    # Staff fetch our organization: MoySklad has none, the run fails with that reason.
    response = admin_client.post("/admin/documents/ourorganization/fetch/", follow=True)
    assert response.status_code == 200
    shown = " ".join(str(m) for m in response.context["messages"])
    assert "no organization" in shown
    run = SyncRun.objects.get(backend=empty_erp, kind="organization")
    assert run.status == SyncRun.Status.FAILED and "no organization" in run.error
    assert not OurOrganization.objects.exists()

    # In dry run the platform renders documents itself; without requisites it must not.
    Backend.objects.filter(pk=empty_erp.pk).update(dry_run=True)
    response = ask_for_invoice(live_server, amo)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "requisites are unknown" in problem["detail"] and problem["errors"]["supplier"]

    document = Document.objects.get(order=order)
    assert document.status == Document.Status.FAILED and "requisites are unknown" in document.error
    assert not document.pdf and document.has_error
    assert not OutboxEvent.objects.filter(topic="crm.document.attach").exists()  # nothing goes to the deal
    detail = widget(live_server, amo, "GET", f"/leads/{LEAD}/order").json()
    [shown] = detail["documents"]
    assert (shown["status"], shown["pdf_url"]) == ("failed", None) and "requisites are unknown" in shown["error"]
    # Staff see the failed request and its reason among the document errors.
    listed = admin_client.get("/admin/documents/document/", {"has_error": "yes"})
    assert list(listed.context["cl"].result_list) == [document]


def test_staff_entered_requisites_are_validated_and_printed(live_server, amo, order, admin_client):
    assert ask_for_invoice(live_server, amo).status_code == 400  # no ERP, no requisites yet

    bad = admin_client.post("/admin/documents/ourorganization/add/",
                            {**STAFF_FORM, "inn": "7707083890", "account": "40702810300000012345"})
    assert bad.status_code == 200
    errors = bad.context["adminform"].form.errors
    assert "wrong check digit" in " ".join(errors["inn"]) and "control key" in " ".join(errors["account"])
    assert not OurOrganization.objects.exists()

    saved = admin_client.post("/admin/documents/ourorganization/add/", STAFF_FORM)
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    assert admin_client.get("/admin/documents/ourorganization/add/").status_code == 403  # one staff row

    response = ask_for_invoice(live_server, amo)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "issued"
    text = pdf_text(live_server, amo, body["pdf_url"])
    assert "ООО «Северный ветер»" in text and "ИНН 7707083893" in text and "КПП 773601001" in text
    assert "ПАО Сбербанк" in text and "044525225" in text
    assert "40702810200000012345" in text and "30101810400000000225" in text
    assert "Орлов П. С." in text and "Демо" not in text


def test_the_erp_organization_and_its_bank_account_are_printed(live_server, demo_erp, amo, order, admin_client,
                                                               ms_sandbox):
    admin_client.post("/admin/documents/ourorganization/add/", STAFF_FORM)  # the ERP's organization wins
    response = admin_client.post("/admin/documents/ourorganization/fetch/", follow=True)
    assert "ЭлектроСнаб" in " ".join(str(m) for m in response.context["messages"])
    org = OurOrganization.objects.get(backend=demo_erp)
    assert (org.source, org.inn, org.kpp, org.bik, org.account) == (
        "erp", "7701234560", "770101001", "044525225", "40702810200000012345")
    # Mirrored from the ERP: read-only in the admin.
    form = admin_client.get(f"/admin/documents/ourorganization/{org.pk}/change/").context["adminform"].form
    assert "inn" not in form.fields and "account" not in form.fields

    Backend.objects.filter(pk=demo_erp.pk).update(dry_run=True)
    response = ask_for_invoice(live_server, amo)
    assert response.status_code == 202, response.text
    text = pdf_text(live_server, amo, response.json()["pdf_url"])
    assert "Общество с ограниченной ответственностью «ЭлектроСнаб»" in text and "ИНН 7701234560" in text
    assert "40702810200000012345" in text and "Смирнов А. В." in text and "Северный ветер" not in text

    dry = admin_client.post("/admin/documents/ourorganization/fetch/", follow=True)
    assert "dry run" in " ".join(str(m) for m in dry.context["messages"])

    # The organization disappears from the ERP: the next fetch drops what was stored for it, and only the
    # staff-entered requisites remain.
    [own] = ms_sandbox.control("moysklad/entities/organization", method="GET")
    deleted = requests.delete(f"{ms_sandbox.url}{API}/entity/organization/{own['id']}",
                              headers={"Authorization": "Bearer sandbox-token"}, timeout=30)
    assert deleted.status_code == 200, deleted.text
    Backend.objects.filter(pk=demo_erp.pk).update(dry_run=False)  # a dry-run sync writes (and drops) nothing
    admin_client.post("/admin/documents/ourorganization/fetch/")
    assert not OurOrganization.objects.filter(backend=demo_erp).exists()
    assert get_supplier().name == "ООО «Северный ветер»"


def test_an_invoice_needs_our_bank_account(live_server, amo, order):
    OurOrganization.objects.create(source="staff", name="ИП Сидоров", kind="entrepreneur", inn="500100732259")
    response = ask_for_invoice(live_server, amo)
    assert response.status_code == 400 and "has no bank account" in response.json()["detail"]
    upd = widget(live_server, amo, "POST", f"/leads/{LEAD}/documents", json={"kind": "upd"})
    assert upd.status_code == 202 and upd.json()["status"] == "issued"  # a UPD needs no bank account


def test_the_nightly_schedule_fetches_our_organization(demo_erp):
    import importlib

    from django.core.management import call_command
    from django_q.models import Schedule

    call_command("setup_schedules", stdout=io.StringIO())
    schedule = Schedule.objects.get(name="amoerp: our organization nightly")
    module, _, name = schedule.func.rpartition(".")
    task = getattr(importlib.import_module(module), name)
    outcome = task(**eval(f"dict({schedule.kwargs})"))  # as django-q2's scheduler calls it
    assert outcome["moysklad"].startswith("succeeded")
    org = OurOrganization.objects.get(backend=demo_erp)
    assert (org.name, org.bank_name, org.director) == (
        "Общество с ограниченной ответственностью «ЭлектроСнаб»", "ПАО Сбербанк", "Смирнов А. В.")
