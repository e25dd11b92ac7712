"""What every log line is about: the HTTP request, the outbox event, the sync run being handled (contextvars,
so each thread and task has its own), and the JSON line format used when LOG_FORMAT=json."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

FIELDS = ("request_id", "outbox_event_id", "sync_run_id")
_context: dict[str, contextvars.ContextVar] = {name: contextvars.ContextVar(f"amoerp_{name}", default=None)
                                               for name in FIELDS}
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@contextmanager
def bind(**ids: object) -> Iterator[None]:
    """`with bind(outbox_event_id=event.pk):` — every log line inside the block carries it."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Puts the current ids on every record (None when not inside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in FIELDS:
            setattr(record, name, _context[name].get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the context ids, the exception if any.
    Install after MaskSecretsFilter: the message is rendered from the masked record."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{name: getattr(record, name, None) for name in FIELDS},
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class RequestIdMiddleware:
    """Takes the proxy's X-Request-ID (when it looks like an id) or makes one; logs and the response carry it.
    It stays set until the request finishes: Django logs a 4xx/5xx after the middleware chain has returned."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        _context["request_id"].set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _forget_request(**_kwargs: object) -> None:
    _context["request_id"].set(None)


request_finished.connect(_forget_request, dispatch_uid="amoerp_forget_request_id")
