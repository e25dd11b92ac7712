"""Documents in the admin: the list with its error filter, and the permissioned re-render action."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from catalog.models import VatRate
from documents.models import Document

from .factories import make_counterparty, make_order, make_our_organization

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def our_organization(db):
    return make_our_organization()


@pytest.fixture
def document():
    order = make_order([("Молоток", "1", "500.00", VatRate.VAT_22)], counterparty=make_counterparty())
    return Document.objects.create(order=order, kind=Document.Kind.INVOICE, status=Document.Status.ISSUED,
                                   number="77", totals_mismatch=True, error="Totals differ")


def staff(client, *perms):
    user = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="documents", codename__in=perms))
    client.force_login(user)
    return client


def test_changelist_filters_errors(client, document):
    ok = Document.objects.create(order=document.order, kind=Document.Kind.UPD, status=Document.Status.ISSUED,
                                 number="78")
    client = staff(client, "view_document")
    response = client.get("/admin/documents/document/", {"has_error": "yes"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [document]
    response = client.get("/admin/documents/document/", {"has_error": "no"})
    assert list(response.context["cl"].result_list) == [ok]
    assert client.get(f"/admin/documents/document/{document.pk}/change/").status_code == 200


def test_rerender_needs_the_permission(client, document):
    client = staff(client, "view_document", "change_document")
    form = client.get("/admin/documents/document/").context["action_form"]
    assert form is None or "rerender" not in dict(form.fields["action"].choices)
    client.post("/admin/documents/document/", {"action": "rerender", "_selected_action": [document.pk]})
    document.refresh_from_db()
    assert not document.pdf

    get_user_model().objects.filter(username="staff").delete()
    client = staff(client.__class__(), "view_document", "change_document", "render_document")
    client.post("/admin/documents/document/", {"action": "rerender", "_selected_action": [document.pk]})
    document.refresh_from_db()
    assert document.pdf and document.source == Document.Source.RENDERED
    with document.pdf.open("rb") as pdf:
        assert pdf.read(5) == b"%PDF-"


def test_rerender_without_our_requisites_says_why_and_keeps_the_pdf(client, document):
    from documents.models import OurOrganization

    OurOrganization.objects.all().delete()
    client = staff(client, "view_document", "change_document", "render_document")
    response = client.post("/admin/documents/document/", {"action": "rerender", "_selected_action": [document.pk]},
                           follow=True)
    shown = " ".join(str(m) for m in response.context["messages"])
    assert "requisites are unknown" in shown
    document.refresh_from_db()
    assert not document.pdf and document.source == Document.Source.ERP
