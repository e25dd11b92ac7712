"""The "site" of 1C's «Обмен с сайтом» (CommerceML 2.x): /exchange/1c/<secret>/?type=…&mode=….

Answers are text lines (`success`, `progress`, `failure\\n<reason>`, `zip=…`) in the backend's encoding
(UTF-8 unless set to windows-1251), as Bitrix's exchange component — the server 1C has been tested against —
gives them (additions §2.1). 1C authenticates with Basic auth at `checkauth` and then sends our session cookie.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from integration import throttling
from integration.erp.commerceml import jobs, orders_in, orders_out
from integration.erp.commerceml.adapter import LAST_EXCHANGE
from integration.erp.commerceml.config import (
    ExchangeConfig,
    backend_for_secret,
    exchange_config,
    login_matches,
)
from integration.erp.commerceml.sessions import COOKIE, ExchangeError, Session
from integration.erp.importers.cursors import set_cursor
from integration.errors import IntegrationError
from integration.journal import journal_incoming
from integration.models import Backend
from integration.widget.models import ThrottleWindow
from orders.models import Order

logger = logging.getLogger(__name__)

INFO_VERSION = "2.08"
LOCKOUT = throttling.Rate(limit=10, period=600)  # failed checkauth of one address for one backend
LOCKOUT_SCOPE = "cml-login"


def locked_out(caller: str) -> bool:
    """The caller failed checkauth LOCKOUT.limit times in the current window: refused without a password check."""
    return ThrottleWindow.objects.filter(key=f"{LOCKOUT_SCOPE}:{caller}"[:200], window_end__gt=time.time(),
                                         hits__gte=LOCKOUT.limit).exists()


def answer(config: ExchangeConfig | None, *lines: str, content_type: str = "text/plain") -> HttpResponse:
    encoding = config.encoding if config else "utf-8"
    body = "\n".join(lines) + "\n"
    return HttpResponse(body.encode(encoding, errors="replace"), content_type=f"{content_type}; charset={encoding}")


def failure(config: ExchangeConfig | None, reason: str, status: int = 200) -> HttpResponse:
    # 1C reads the body, not the status: a refusal is still `failure` with its reason on the second line.
    response = answer(config, "failure", " ".join(reason.split())[:1000])
    response.status_code = status
    return response


def _basic_auth(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    for encoding in ("utf-8", "cp1251"):  # 1C sends a Cyrillic login in either, depending on its version
        try:
            login, _sep, password = raw.decode(encoding).partition(":")
            return login, password
        except UnicodeDecodeError:
            continue
    return None


def _chunks(request: HttpRequest):
    while True:
        chunk = request.read(1024 * 1024)
        if not chunk:
            return
        yield chunk


@csrf_exempt
def exchange(request: HttpRequest, secret: str) -> HttpResponse:
    wait = throttling.hit("cml-ip", throttling.client_ip(request), throttling.rate_for("WEBHOOK_IP"))
    if wait is not None:  # a flood, or guessed secrets
        return failure(None, f"too many requests: try again in {int(wait)} s", status=429)
    backend = backend_for_secret(secret)
    if backend is None:
        return failure(None, "unknown exchange address", status=404)
    started = time.monotonic()
    response = _handle(request, backend)
    journal_incoming(request, _masked(response), backend, started=started)  # secret, password, cookie masked
    return response


def _masked(response: HttpResponse) -> HttpResponse:
    """The response as the journal keeps it: the session id checkauth hands out is a credential too."""
    masks = getattr(response, "journal_masks", ())
    if not masks:
        return response
    body = response.content
    for value in masks:
        body = body.replace(value.encode(), b"***")
    return HttpResponse(body, status=response.status_code, content_type=response["Content-Type"])


def _handle(request: HttpRequest, backend: Backend) -> HttpResponse:
    config = exchange_config(backend)
    kind, mode = request.GET.get("type", ""), request.GET.get("mode", "")
    try:
        if mode == "checkauth":
            return _checkauth(request, backend, config)
        session = Session.find(backend, request.COOKIES.get(COOKIE, ""))
        if session is None:
            return failure(config, "not authorised: call mode=checkauth first", status=401)
        return _dispatch(request, backend, config, session, kind, mode)
    except (ExchangeError, IntegrationError, OSError, ValueError) as exc:
        logger.warning("CommerceML %s&%s for backend %s refused: %s", kind, mode, backend.name, exc)
        return failure(config, str(exc))
    except Exception as exc:  # 1C shows the reason to its operator; we keep the traceback
        logger.exception("CommerceML %s&%s for backend %s failed", kind, mode, backend.name)
        return failure(config, f"{type(exc).__name__}: {exc}")


def _checkauth(request: HttpRequest, backend: Backend, config: ExchangeConfig) -> HttpResponse:
    caller = f"{backend.pk}:{throttling.client_ip(request)}"
    if locked_out(caller):
        return failure(config, f"too many failed logins: try again in {LOCKOUT.period // 60} min", status=429)
    credentials = _basic_auth(request)
    if credentials is None or not login_matches(config, *credentials):
        logger.warning("CommerceML checkauth refused for backend %s", backend.name)
        throttling.hit(LOCKOUT_SCOPE, caller, LOCKOUT)
        return failure(config, "wrong login or password", status=401)
    session = Session.open(backend)
    set_cursor(backend, LAST_EXCHANGE, timezone.now())
    response = answer(config, "success", COOKIE, session.sid, f"sessid={session.sid}", f"timestamp={int(time.time())}")
    response.set_cookie(COOKIE, session.sid, httponly=True, samesite="Lax")
    response.journal_masks = (session.sid,)
    return response


def _dispatch(request, backend: Backend, config: ExchangeConfig, session: Session, kind: str, mode: str):
    if kind not in ("catalog", "sale", "get_catalog"):
        return failure(config, f"type={kind!r} is not supported")
    if mode == "init":
        session.clear_files()
        version = request.GET.get("version", "")
        session.update(version=version, cml_version=request.GET.get("cmlVersion", ""))
        lines = [f"zip={'yes' if config.zip else 'no'}", f"file_limit={config.file_limit}"]
        if version:
            lines += [f"sessid={session.sid}", f"version={INFO_VERSION}"]
        return answer(config, *lines)
    if mode == "file":
        if request.method != "POST":
            return failure(config, "mode=file takes a POST body")
        name = request.GET.get("filename", "")
        length = request.headers.get("Content-Length")
        session.append(name, _chunks(request), int(length) if length else None)
        if kind == "sale" and not session.state().get("version") and not name.lower().endswith(".zip"):
            # The old protocol: import what came at once — once the file is whole (a long one comes in parts).
            if session.holds_whole_document(name):
                return _sale_import(backend, config, session, name)
        return answer(config, "success")
    if mode == "import":
        name = request.GET.get("filename", "")
        if kind == "sale":
            session.unzip_pending()
            return _sale_import(backend, config, session, name)
        result = jobs.import_step(session, name, config.budget_seconds)
        return answer(config, result.status, result.message)
    if mode in ("deactivate", "complete"):
        return answer(config, "success")
    if kind == "sale" and mode == "query":
        body = orders_out.query(backend, session, config.encoding)
        return HttpResponse(body, content_type=f"application/xml; charset={config.encoding}")
    if kind == "sale" and mode == "success":
        orders_out.acknowledge(backend, session)
        return answer(config, "success")
    if kind == "sale" and mode == "info":
        return HttpResponse(_info(config.encoding), content_type=f"application/xml; charset={config.encoding}")
    return failure(config, f"mode={mode!r} is not supported for type={kind}")


def _sale_import(backend: Backend, config: ExchangeConfig, session: Session, name: str) -> HttpResponse:
    names = [name] if name else [str(p.relative_to(session.files)) for p in sorted(session.files.rglob("*.xml"))]
    counts = []
    for each in names:
        path = session.path_of(each)
        if not path.is_file():
            return failure(config, f"filename {each}: the file was not received")
        run = orders_in.import_documents(backend, path)
        session.remove(each)
        counts.append(f"{each}: {run.updated} updated, {run.unchanged} unchanged, {run.skipped} skipped")
    return answer(config, "success", "; ".join(counts))


def _info(encoding: str) -> bytes:
    """Our order statuses (and no payment systems or delivery services of our own) for 1C's exchange settings.
    `Cтатусы` starts with a Latin C, as in Bitrix's answer that 1C parses (additions §2.1)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("Справочник")
    statuses = ET.SubElement(root, "Cтатусы")
    for value, label in Order.Status.choices:
        item = ET.SubElement(statuses, "Элемент")
        ET.SubElement(item, "Ид").text = value
        ET.SubElement(item, "Название").text = str(label)
    ET.SubElement(root, "ПлатежныеСистемы")
    ET.SubElement(root, "СлужбыДоставки")
    return ET.tostring(root, encoding=encoding, xml_declaration=True)
