"""Every admin view, admin action, staff page and staff API endpoint, walked as an auditor and as an operator.

The walk is built from the admin registry and the URL resolver, so a view added later is walked too. What each
group may do comes from its declared rights (integration.staff.groups), not from the views under test: an auditor
changes nothing anywhere; an operator changes only what OPERATOR_ACTIONS lists.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import URLResolver, get_resolver, reverse
from rest_framework.views import APIView

from counterparties.models import Counterparty
from integration.models import Backend, Conflict, OutboxEvent, Override
from integration.staff.groups import OPERATOR_ACTIONS

from .conftest import PASSWORD
from .data import backends, duplicate_counterparties, order_with_everything

pytestmark = pytest.mark.django_db

WRITES = ("post", "put", "patch", "delete")
# Admin site pages that are not about the platform's data: the login flow, the user's own password, JS catalogs.
SITE_PAGES = {"login", "logout", "password_change", "password_change_done", "jsi18n", "autocomplete", "index",
              "app_list", "view_on_site", "set_language", None}
REFUSED = (403, 405)
# Pages that only show something (a POST is answered as a GET): the database comparison covers them.
READ_ONLY_PAGES = {"runbook"}
# Staff pages an operator may post to (their own tests cover what they do): the kill switch and the dry run.
OPERATOR_PAGES = {"backend-pause", "backend-resume", "backend-dry-run", "backend-sync-diff",
                  "integration_outboxevent_replay",
                  "integration_outboxevent_discard", "integration_conflict_resolve"}


@pytest.fixture
def world(db):
    """One row (at least) of every model the admin shows, so change, delete and actions have a target."""
    crm, erp = backends()
    crm.settings = {"account_id": 1, "subdomain": "demo"}
    crm.save()
    order_with_everything(crm, erp)
    duplicate_counterparties()
    first = Counterparty.objects.order_by("pk").first()
    Conflict.objects.create(content_type=ContentType.objects.get_for_model(Counterparty), object_id=first.pk,
                            field="name", erp_value="ООО Ромашка", crm_value="Ромашка")
    Override.objects.create(content_type=ContentType.objects.get_for_model(Counterparty), object_id=first.pk,
                            field="name", value="Ромашка")
    OutboxEvent.objects.create(backend=erp, topic="erp.order.upsert", aggregate_type="orders.order",
                               aggregate_id="9", payload={}, idempotency_key="order-9",
                               status=OutboxEvent.Status.DEAD, attempts=2, max_attempts=2)
    return crm, erp


def fingerprint() -> str:
    """A digest of every row of every table but the sessions: equal digests, nothing written."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        if model._meta.app_label == "sessions" or model._meta.proxy or not model._meta.managed:
            continue
        for row in model.objects.order_by("pk").values_list():
            digest.update(repr(row).encode())
    return digest.hexdigest()


def declared(user) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for group in user.groups.all()
            for p in group.permissions.select_related("content_type")}


# --- the walk, from the registry and the resolver ---------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    url: str
    name: str
    model: type[models.Model] | None = None  # the model whose admin serves it
    kind: str = ""  # changelist, add, change, delete, history; "" for the admin's own extra pages


def first_pk(model) -> str | None:
    row = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
    return None if row is None else str(row)


def model_admin_pages() -> list[Page]:
    pages = []
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pk = first_pk(model)
        pages.append(Page(reverse(f"{prefix}_changelist"), f"{prefix} changelist", model, "changelist"))
        pages.append(Page(reverse(f"{prefix}_add"), f"{prefix} add", model, "add"))
        for kind in ("change", "delete", "history"):
            pages.append(Page(reverse(f"{prefix}_{kind}", args=[pk or "999999"]), f"{prefix} {kind}", model, kind))
    return pages


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _filled(route: str, values: list[str]) -> str:
    """The route with its parameters (<int:pk>, (?P<pk>…), ([^/]+)) replaced by `values`, in order."""
    parameter = re.compile(r"<(?:\w+:)?\w+>|\(\?P<\w+>[^)]*\)|\([^)]*\)")
    values = iter(values)
    url = parameter.sub(lambda _match: next(values), route)
    return "/" + url.replace("^", "").replace("$", "")


def _model_of(name: str):
    for model in admin.site._registry:
        if name.startswith(f"{model._meta.app_label}_{model._meta.model_name}_"):
            return model
    return None


def extra_admin_pages(crm: Backend) -> list[Page]:
    """The admin's and the staff app's own pages (custom model-admin URLs, staff views), from the resolver."""
    pages = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith("admin/") or pattern.name in SITE_PAGES:
            continue
        if getattr(pattern.callback, "model_admin", None) is not None or pattern.name == "auth_user_password_change":
            continue  # the model admins' standard views: model_admin_pages
        model = _model_of(pattern.name)
        if pattern.name.endswith("_simple_history"):
            record = model.history.order_by("history_id").first() if model is not None else None
            if record is None:
                continue
            values = [str(record.pk), str(record.history_id)]
        elif model is not None:
            values = [first_pk(model) or "999999"]
        else:  # the staff pages work on a backend, and so does the amoCRM settings page
            values = [str(crm.pk)]
        pages.append(Page(_filled(route, values), pattern.name, model))
    return pages


def api_endpoints() -> list[tuple[str, str, set[str]]]:
    """(url, name, allowed methods) of every staff API endpoint (/api/v1/)."""
    endpoints = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/"):
            continue
        view = getattr(pattern.callback, "cls", None)
        assert view is not None and issubclass(view, APIView), route
        actions = getattr(pattern.callback, "actions", None)
        methods = set(actions) if actions else {m for m in view.http_method_names if hasattr(view, m)}
        model = getattr(getattr(view, "serializer_class", None), "Meta", None)
        pk = first_pk(model.model) if model is not None else None
        endpoints.append((_filled(route, [pk or "999999"]), pattern.name, methods - {"options", "head"}))
    return endpoints


def actions_of(model_admin) -> list[str]:
    """Every action the model admin has, whoever asks (site-wide ones included)."""
    return [name for _func, name, _description in model_admin._get_base_actions()]


def assert_write_refused(client, page: Page) -> None:
    """POST, the admin's one write verb, answers 403; other verbs are at most read (the caller compares the
    database before and after), never a server error."""
    data = {"post": "yes", "name": "x", "reason": "x", "choice": "take_erp", "kind": "catalog", "full": "on"}
    response = client.post(page.url, data)
    assert response.status_code in REFUSED, (page, "post", response.status_code)
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)(page.url, data)
        assert response.status_code < 500 and response.status_code not in (201, 204), (page, method)


def logged_in(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_the_walk_covers_every_registered_model_and_staff_page(world):
    crm, _erp = world
    assert len(model_admin_pages()) == 5 * len(admin.site._registry) >= 5 * 20
    names = {page.name for page in extra_admin_pages(crm)}
    assert {"runbook", "backend-pause", "backend-resume", "backend-dry-run", "integration_outboxevent_replay",
            "integration_conflict_resolve"} <= names
    assert {name for _url, name, _methods in api_endpoints()} >= {"counterparty-list", "counterparty-detail", "kpis"}


# --- the auditor ------------------------------------------------------------------------------------------------

def test_auditor_reads_what_it_may_and_no_write_anywhere_changes_anything(client, auditor, world):
    crm, _erp = world
    rights = declared(auditor)
    assert rights and all(".view_" in right for right in rights), "an auditor is given view rights only"
    logged_in(client, auditor)
    before = fingerprint()
    for page in model_admin_pages():
        may_view = f"{page.model._meta.app_label}.view_{page.model._meta.model_name}" in rights
        reads = client.get(page.url)
        if page.kind in ("add", "delete"):
            assert reads.status_code == 403, page
        elif page.kind in ("change", "history") and first_pk(page.model) is None:
            assert reads.status_code in (302, 403, 404), page  # no such row: the admin says so
        else:
            assert reads.status_code == (200 if may_view else 403), (page, reads.status_code)
        if page.kind not in ("changelist", "history"):  # the change list's POSTs are actions: the next test
            assert_write_refused(client, page)
    for page in extra_admin_pages(crm):
        if page.name not in READ_ONLY_PAGES and not page.name.endswith("_simple_history"):
            assert_write_refused(client, page)
    for url, name, methods in api_endpoints():
        if "get" in methods:
            assert client.get(url).status_code == 200, name
        for method in WRITES:
            response = getattr(client, method)(url, {"name": "x", "kind": "legal"}, content_type="application/json")
            assert response.status_code in REFUSED, (name, method, response.status_code)
    assert fingerprint() == before


def test_auditor_is_offered_no_action_and_posting_each_one_runs_nothing(client, auditor, world, rf):
    logged_in(client, auditor)
    request = rf.get("/admin/")
    request.user = auditor
    before = fingerprint()
    posted = 0
    for model, model_admin in admin.site._registry.items():
        if auditor.has_perm(_right(model, "view")):
            assert model_admin.get_actions(request) == {}, model
        pks = list(model._default_manager.values_list("pk", flat=True)[:5])
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for name in actions_of(model_admin):
            response = client.post(url, {"action": name, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], "post": "yes",
                                         "apply": "1", "confirm": "yes", "reason": "x", "choice": "take_erp",
                                         "survivor": str(pks[0]) if pks else ""})
            assert response.status_code in (200, 302, 403), (model, name)
            posted += 1
    assert posted >= 10
    assert fingerprint() == before


# --- the operator -----------------------------------------------------------------------------------------------

def _right(model, verb: str) -> str:
    return f"{model._meta.app_label}.{verb}_{model._meta.model_name}"


def test_operator_changes_only_what_its_rights_name(client, operator, world):
    crm, _erp = world
    allowed = set(OPERATOR_ACTIONS)
    logged_in(client, operator)
    before = fingerprint()
    for page in model_admin_pages():
        if page.kind not in ("add", "change", "delete"):
            continue
        verb = page.kind
        if _right(page.model, verb) in allowed:
            continue  # overrides: the operator's own data (the admin's tests cover editing them)
        assert_write_refused(client, page)
    for page in extra_admin_pages(crm):
        if page.name in OPERATOR_PAGES | READ_ONLY_PAGES or page.name.endswith("_simple_history"):
            continue
        assert_write_refused(client, page)
    # The staff API: counterparties are read, never written, by an operator.
    for url, name, _methods in api_endpoints():
        for method in WRITES:
            response = getattr(client, method)(url, {"name": "x", "kind": "legal"}, content_type="application/json")
            assert response.status_code in REFUSED, (name, method, response.status_code)
    assert fingerprint() == before
    # The operational pages it may use answer; those for integration admins do not.
    assert client.get(reverse("staff:backend-pause", args=[crm.pk])).status_code == 200
    assert client.get(reverse("staff:backend-dry-run", args=[crm.pk])).status_code == 200
    assert client.get(reverse("admin:amocrm_backend_settings", args=[crm.pk])).status_code == 403


def test_operator_is_offered_only_the_actions_its_rights_allow(operator, world, rf):
    request = rf.get("/admin/")
    request.user = operator
    allowed = set(OPERATOR_ACTIONS)
    offered = {}
    for model, model_admin in admin.site._registry.items():
        if _right(model, "view") not in declared(operator):
            continue  # its change list answers 403 (the walk above): no action can be posted
        for name, (func, _name, _description) in model_admin.get_actions(request).items():
            needs = getattr(func, "allowed_permissions", ())
            assert needs, f"{model.__name__}.{name} is offered to anyone who can see the list"
            assert "delete" not in needs or _right(model, "delete") in allowed, (model, name)
            offered[f"{model._meta.model_name}.{name}"] = needs
    assert {"outboxevent.replay_selected", "counterparty.merge_selected"} <= set(offered), offered
