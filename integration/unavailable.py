"""The database away for a moment (a restart, a failover): requests answer 503 with Retry-After — webhook
senders retry, the widget tells the manager to wait — instead of a 500 with a stack trace. Kept connections are
health-checked before reuse (CONN_HEALTH_CHECKS), so the first requests after the database is back work."""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5
MACHINE_PATHS = ("/api/", "/hooks/", "/exchange/")


def unavailable_response(request: HttpRequest) -> HttpResponse:
    message = _("The database is unavailable for a moment; try again in a few seconds.")
    if request.path.startswith(MACHINE_PATHS):
        response = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """A view that hit a lost database connection answers 503 (the error is logged as a warning)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        logger.warning("database unavailable: %s %s: %s", request.method, request.path, exception)
        return unavailable_response(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database error raised outside a view (in a middleware) is a 503 too."""
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return unavailable_response(request)
    return defaults.server_error(request)
