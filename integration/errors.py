"""Typed errors of the integration layer; connectors raise these, the relay and the workers act on them."""

from __future__ import annotations


class IntegrationError(Exception):
    """Base of every integration error."""


class RetryableError(IntegrationError):
    """A transient failure (network, timeout, 429, 5xx): try again later, after `retry_after` seconds if set."""

    def __init__(self, message: str = "", *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class BudgetSpent(RetryableError):
    """The remote's request budget is spent for the next `retry_after` seconds and the caller may not wait that
    long (integration.ratelimit.deferrable): nothing was sent; the delivery goes back to the queue, not counted
    as an attempt."""

    def __init__(self, wait: float):
        super().__init__(f"the request budget is spent for {wait:.2f} s; nothing was sent", retry_after=wait)


class PermanentError(IntegrationError):
    """The remote side refused the request (4xx, validation): retrying the same request cannot help."""

    def __init__(self, detail: str = "", *, status: int | None = None):
        super().__init__(f"{status} {detail}".strip() if status else detail)
        self.status = status
        self.detail = detail


class BackendPaused(IntegrationError):
    """The backend is paused by staff: its traffic is held until it is resumed."""

    def __init__(self, backend_name: str = ""):
        super().__init__(f"backend {backend_name!r} is paused" if backend_name else "backend is paused")
        self.backend_name = backend_name


class SyncAlreadyRunning(IntegrationError):
    """A run of the same kind for the same backend is already in progress."""

    def __init__(self, kind: str, backend_name: str, run_id: int | None = None):
        super().__init__(f"sync {kind!r} of backend {backend_name!r} is already running (run #{run_id})")
        self.kind = kind
        self.backend_name = backend_name
        self.run_id = run_id


class UnknownSyncKind(IntegrationError):
    """No sync function is registered under this kind."""


class ConflictAlreadyResolved(IntegrationError):
    """The conflict was resolved before (by someone else)."""
