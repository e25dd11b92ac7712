"""Errors of the widget API as RFC 9457 problem+json: {"type","title","status","detail","errors":{field:[…]}}.
Titles and messages follow the request's language (Accept-Language through LocaleMiddleware)."""

from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response

from documents.errors import DocumentError
from integration.widget.parsers import BodyTooLarge
from orders.errors import InsufficientStock, InvalidInput, NotAllowed, OrderClosed

CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "urn:amoerp:problem:"


def problem(http_status: int, code: str, title, detail="", *, errors: dict | None = None, **extra) -> Response:
    body = {"type": TYPE_BASE + code, "title": str(title), "status": http_status, "detail": str(detail)}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(body, status=http_status, content_type=CONTENT_TYPE)


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"lines[1].quantity": ["…"]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            elif key in ("non_field_errors", "detail"):
                name = prefix or "non_field_errors"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten_errors(value, name).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                for field, messages in flatten_errors(item, f"{prefix}[{index}]").items():
                    out.setdefault(field, []).extend(messages)
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


def exception_handler(exc, context) -> Response | None:
    if isinstance(exc, InsufficientStock):
        return problem(
            status.HTTP_409_CONFLICT, "insufficient-stock", _("Not enough stock"), exc.message,
            errors={f"lines[{s.index}].quantity": [_shortage_message(s)] for s in exc.shortages},
            shortages=[s.as_json() for s in exc.shortages],
        )
    if isinstance(exc, OrderClosed):
        return problem(status.HTTP_409_CONFLICT, "order-closed", _("The order is closed"), exc.message)
    if isinstance(exc, NotAllowed):
        return problem(status.HTTP_403_FORBIDDEN, "not-allowed", _("Not allowed"), exc.message)
    if isinstance(exc, InvalidInput | DocumentError):
        field = exc.field or "non_field_errors"
        return problem(status.HTTP_400_BAD_REQUEST, "invalid", _("Invalid input"), exc.message,
                       errors={field: [str(exc.message)]})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge(_("The request body is larger than %(limit)s bytes.")
                           % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    if isinstance(exc, exceptions.ValidationError):
        return problem(status.HTTP_400_BAD_REQUEST, "invalid", _("Invalid input"),
                       _("Check the fields listed in errors."), errors=flatten_errors(exc.detail))
    if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
        codes = exc.get_codes()
        response = problem(status.HTTP_401_UNAUTHORIZED, "unauthorized", _("Not authenticated"), exc.detail,
                           reason=codes if isinstance(codes, str) else "invalid")
        response["WWW-Authenticate"] = 'X-Auth-Token realm="amoCRM widget"'
        return response
    if isinstance(exc, exceptions.APIException):
        title = exc.default_detail if "{" not in str(exc.default_detail) else exc.detail  # DRF's "{method}", …
        response = problem(exc.status_code, str(exc.default_code).replace("_", "-"), title, exc.detail)
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(math.ceil(exc.wait))
        if isinstance(exc, exceptions.MethodNotAllowed):
            response["Allow"] = ", ".join(context["view"].allowed_methods)
        return response
    return None


def _shortage_message(shortage) -> str:
    if shortage.reason == shortage.REASON_BATCH:
        return str(_("The batch has only %(available)s available of %(requested)s requested.") % {
            "available": _number(shortage.available), "requested": _number(shortage.requested)})
    return str(_("Only %(available)s available of %(requested)s requested.") % {
        "available": _number(shortage.available), "requested": _number(shortage.requested)})


def _number(value) -> str:
    return f"{value.normalize():f}"


NO_ORDER = _("This lead has no order yet.")
