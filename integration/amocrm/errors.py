"""Typed errors of the amoCRM connector (on top of integration.errors)."""

from __future__ import annotations

from integration.errors import BackendPaused, PermanentError, RetryableError


class InvalidWidgetToken(Exception):
    """An X-Auth-Token from an amoCRM widget failed verification; `reason` is a short machine code."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class NotConnected(PermanentError):
    """The backend holds no amoCRM token yet: an admin must connect the account first."""


class OAuthRejected(PermanentError):
    """The token endpoint refused a code or a refresh token (`hint` is amoCRM's explanation)."""

    def __init__(self, detail: str = "", *, status: int | None = None, hint: str = ""):
        super().__init__(detail, status=status)
        self.hint = hint


class BackendSuspended(BackendPaused):
    """amoCRM refused us for good (revoked token, 402, 403): the backend was paused and an alert raised."""

    def __init__(self, backend_name: str, reason: str):
        super().__init__(backend_name)
        self.reason = reason
        self.args = (f"backend {backend_name!r} paused: {reason}",)


class RateLimited(RetryableError):
    """429 kept coming after our retries; nothing was applied."""


class AmbiguousWrite(RetryableError):
    """A write was sent but its answer was lost (network error, 5xx): re-read before trying again."""


class ValidationFailed(PermanentError):
    """400 with `validation-errors`: {request_id: [{"code", "path", "detail"}, …]}; nothing was applied."""

    def __init__(self, errors: dict[str, list[dict]], detail: str = "Request validation failed"):
        super().__init__(detail, status=400)
        self.errors = errors


class ApiError(PermanentError):
    """Any other 4xx answer; `body` is the parsed problem JSON when there is one."""

    def __init__(self, detail: str = "", *, status: int | None = None, body: dict | None = None):
        super().__init__(detail, status=status)
        self.body = body or {}
