"""The demo deal card (/widget-demo/): a page laid out like an amoCRM deal card that runs the UNCHANGED
widget/script.js through RequireJS with a small stand-in for amoCRM's front-end API (demo_assets/standin.js).

Development only: served when DEBUG is on or AMOERP_WIDGET["DEMO_PAGE"] is set, else every URL is a 404. The
deal, its company and contact are read from the amoCRM sandbox as a manager sees them, and each widget call
gets a fresh signed X-Auth-Token from the sandbox, as amoCRM signs them for $authorizedAjax.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from django.conf import settings
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.static import serve

from integration.models import Backend
from integration.widget.bundle import SOURCE

ASSETS = Path(__file__).resolve().parent / "demo_assets"
SANDBOX_TIMEOUT = 10.0
MANAGER_USER = 1001  # the amoCRM sandbox's default manager


class SandboxUnavailable(Exception):
    """The amoCRM sandbox did not answer (the demo page needs `make demo` or a test's sandbox)."""


def demo_enabled() -> bool:
    return bool(settings.DEBUG or settings.AMOERP_WIDGET.get("DEMO_PAGE"))


def _require_demo() -> None:
    if not demo_enabled():
        raise Http404()


def amocrm_backend() -> Backend:
    backend = Backend.objects.filter(kind=Backend.Kind.AMOCRM, active=True).order_by("pk").first()
    if backend is None:
        raise Http404("No amoCRM account is connected.")
    return backend


def sandbox_control(backend: Backend, name: str, payload: dict) -> dict:
    """POST /_control/amocrm/<name> of the sandbox behind the backend."""
    url = f"{backend.base_url.rstrip('/')}/_control/amocrm/{name}"
    request = Request(url, data=json.dumps(payload).encode(), method="POST",  # noqa: S310 — the sandbox
                      headers={"Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=SANDBOX_TIMEOUT) as response:  # noqa: S310 — the sandbox
            return json.loads(response.read())
    except (HTTPError, URLError, OSError, ValueError) as exc:
        raise SandboxUnavailable(f"{url}: {exc}") from exc


def as_manager(backend: Backend, path: str) -> dict | None:
    """A GET made by a person in amoCRM (the sandbox's manager); None when there is nothing there."""
    answer = sandbox_control(backend, "as_manager", {"method": "GET", "path": path, "user_id": MANAGER_USER})
    return answer["body"] if answer.get("status") == 200 and isinstance(answer.get("body"), dict) else None


def _first_id(entity: dict, kind: str) -> int | None:
    items = (entity.get("_embedded") or {}).get(kind) or []
    return items[0]["id"] if items else None


def _field(entity: dict | None, *codes: str) -> str:
    for field in (entity or {}).get("custom_fields_values") or []:
        if field.get("field_code") in codes and field.get("values"):
            return str(field["values"][0].get("value", ""))
    return ""


def load_deal(backend: Backend, lead_id: int | None) -> dict:
    """The deal (a given one, or the first with a company) with its company and main contact."""
    if lead_id:
        lead = as_manager(backend, f"/api/v4/leads/{lead_id}?with=contacts,companies")
    else:
        page = as_manager(backend, "/api/v4/leads?with=contacts,companies&limit=50") or {}
        leads = (page.get("_embedded") or {}).get("leads") or []
        lead = next((item for item in leads if _first_id(item, "companies")), leads[0] if leads else None)
    if lead is None:
        raise Http404("There is no such deal in the amoCRM sandbox.")
    company_id, contact_id = _first_id(lead, "companies"), _first_id(lead, "contacts")
    company = as_manager(backend, f"/api/v4/companies/{company_id}") if company_id else None
    contact = as_manager(backend, f"/api/v4/contacts/{contact_id}") if contact_id else None
    return {
        "lead": lead, "company": company, "contact": contact,
        "company_inn": _field(company, "INN", "inn"),
        "contact_phone": _field(contact, "PHONE"), "contact_email": _field(contact, "EMAIL"),
    }


def card(request):
    _require_demo()
    backend = amocrm_backend()
    lead_param = request.GET.get("lead", "")
    user_param = request.GET.get("user", "")
    lang = request.GET.get("lang", "ru") if request.GET.get("lang") in ("ru", "en") else "ru"
    try:
        deal = load_deal(backend, int(lead_param) if lead_param.isdigit() else None)
    except SandboxUnavailable as exc:
        return render(request, "widget_demo/unavailable.html", {"reason": str(exc)}, status=503)
    manifest = json.loads((SOURCE / "manifest.json").read_text(encoding="utf-8"))
    config = {
        "lead_id": deal["lead"]["id"], "lead_name": deal["lead"].get("name", ""), "lang": lang,
        "user_id": int(user_param) if user_param.isdigit() else MANAGER_USER,
        "subdomain": backend.settings.get("subdomain", "demo"), "account_id": backend.settings.get("account_id"),
        "widget": {"code": "amoerp", "version": manifest["widget"]["version"], "path": "/widget-demo/bundle",
                   "public_url": request.build_absolute_uri("/").rstrip("/")},
        "vendor": "/widget-demo/assets/vendor", "token_url": "/widget-demo/token",
    }
    return render(request, "widget_demo/card.html", {**deal, "config": config, "lang": lang})


@csrf_exempt
@require_POST
def token(request):
    """A fresh X-Auth-Token signed by the amoCRM sandbox for {user_id, lifetime} (lifetime < 0: expired)."""
    _require_demo()
    try:
        body = json.loads(request.body or b"{}")
        payload = {"user_id": int(body.get("user_id", MANAGER_USER))}
        if "lifetime" in body:
            payload["lifetime"] = int(body["lifetime"])
    except (ValueError, TypeError, AttributeError):
        return JsonResponse({"error": "user_id and lifetime must be integers"}, status=400)
    try:
        answer = sandbox_control(amocrm_backend(), "widget_token", payload)
    except SandboxUnavailable as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return JsonResponse({"token": answer["token"]})


def bundle_file(request, path: str):
    """The widget's own files, unchanged, as amoCRM serves them from the uploaded archive."""
    _require_demo()
    return serve(request, path, document_root=str(SOURCE))


def asset(request, path: str):
    """The stand-in and the vendored browser libraries (RequireJS, jQuery, Underscore, twig.js)."""
    _require_demo()
    return serve(request, path, document_root=str(ASSETS))
