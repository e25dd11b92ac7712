"""Webhook registrations of the emulated account and their delivery (form bodies, 2 s timeout, retries).

Retry schedule (time from the previous attempt): #2 after 5 min and #3 after 15 min when the previous answer
was 0–99 or ≥ 300 (a timeout or a refused connection counts as 0); #4 after 15 min and #5 after 1 h only when
it was 499 or 5xx. The `webhook_time_scale` option shrinks every interval (tests use ~0.001). A hook with more
than 100 invalid answers within 2 h whose latest answer is invalid is disabled.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from integration.sandbox.amocrm.forms import encode_brackets

logger = logging.getLogger(__name__)

EVENTS = frozenset(
    [f"{action}_{entity}" for action in ("add", "update", "delete") for entity in
     ("lead", "contact", "company", "customer", "task")]
    + [f"restore_{e}" for e in ("lead", "contact", "company")]
    + ["status_lead"]
    + [f"responsible_{e}" for e in ("lead", "contact", "company", "customer", "task")]
    + ["add_talk", "update_talk"]
    + [f"note_{e}" for e in ("lead", "contact", "company", "customer")]
    + ["add_chat_template_review"]
)
RETRY_DELAYS = [300, 900, 900, 3600]  # before attempts #2..#5
DISABLE_AFTER = 100
DISABLE_WINDOW = 7200


@dataclass
class Event:
    setting: str          # e.g. "status_lead"
    section: str          # top-level body key: "leads", "contacts", "task"
    action: str           # "add", "update", "status", "note", …
    data: dict[str, Any]  # legacy v2 field names, values stringified by the encoder


@dataclass
class Delivery:
    id: int
    webhook_id: int
    destination: str
    body: bytes
    events: list[str]
    attempt: int = 0
    due_at: float = 0.0
    done: bool = False
    in_flight: bool = False
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "webhook_id": self.webhook_id, "destination": self.destination,
                "body": self.body.decode("ascii"), "events": self.events, "attempt": self.attempt,
                "due_at": self.due_at, "done": self.done, "attempts": self.attempts}


def may_retry(attempt: int, status: int) -> bool:
    """Whether attempt number `attempt` (1-based) answered with `status` earns another try."""
    if attempt >= 5:
        return False
    if attempt <= 2:
        return status < 100 or status >= 300
    return status == 499 or status >= 500


class WebhookHub:
    def __init__(self, *, now: Callable[[], float], account: Callable[[], dict[str, Any]], timeout: float = 2.0,
                 time_scale: float = 1.0, autodeliver: bool = True, disable_after: int = DISABLE_AFTER):
        self.now = now
        self.account = account
        self.timeout = timeout
        self.time_scale = time_scale
        self.autodeliver = autodeliver
        self.disable_after = disable_after
        self.lock = threading.RLock()
        self.wake = threading.Condition(self.lock)
        self.reset()
        self._thread: threading.Thread | None = None
        if autodeliver:
            self._thread = threading.Thread(target=self._run, name="amocrm-webhooks", daemon=True)
            self._thread.start()

    def reset(self) -> None:
        with self.lock:
            self.hooks: dict[int, dict[str, Any]] = {}
            self.failures: dict[int, list[float]] = {}
            self.deliveries: dict[int, Delivery] = {}
            self.next_hook_id = 41
            self.next_delivery_id = 1
            self.counters = {"delivered": 0, "failed_attempts": 0, "disabled": 0}

    # --- registration ------------------------------------------------------------------------------
    def upsert(self, destination: str, settings: list[str], sort: int, user_id: int) -> tuple[dict[str, Any], bool]:
        with self.lock:
            now = int(self.now())
            for hook in self.hooks.values():
                if hook["destination"] == destination:
                    hook.update(settings=list(settings), sort=sort, updated_at=now, disabled=False)
                    self.failures[hook["id"]] = []
                    return hook, False
            hook = {"id": self.next_hook_id, "destination": destination, "created_at": now, "updated_at": now,
                    "account_id": self.account()["id"], "created_by": user_id, "sort": sort, "disabled": False,
                    "settings": list(settings)}
            self.next_hook_id += 1
            self.hooks[hook["id"]] = hook
            return hook, True

    def delete(self, destination: str) -> bool:
        with self.lock:
            for hook_id, hook in list(self.hooks.items()):
                if hook["destination"] == destination:
                    del self.hooks[hook_id]
                    return True
            return False

    def list(self, destination: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(h) for h in sorted(self.hooks.values(), key=lambda h: (h["sort"], h["id"]))
                    if destination is None or h["destination"] == destination]

    # --- emission ----------------------------------------------------------------------------------
    def emit(self, events: list[Event]) -> list[int]:
        """Queue one delivery per interested hook carrying all of `events` it subscribed to."""
        if not events:
            return []
        account = self.account()
        created = []
        with self.lock:
            for hook in sorted(self.hooks.values(), key=lambda h: (h["sort"], h["id"])):
                if hook["disabled"]:
                    continue
                mine = [e for e in events if e.setting in hook["settings"]]
                if not mine:
                    continue
                payload: dict[str, Any] = {}
                for event in mine:
                    payload.setdefault(event.section, {}).setdefault(event.action, []).append(event.data)
                payload["account"] = {"subdomain": account["subdomain"], "id": account["id"],
                                      "_links": {"self": account["_links"]["self"]["href"]}}
                delivery = Delivery(id=self.next_delivery_id, webhook_id=hook["id"],
                                    destination=hook["destination"], body=encode_brackets(payload),
                                    events=[e.setting for e in mine], due_at=self.now())
                self.next_delivery_id += 1
                self.deliveries[delivery.id] = delivery
                created.append(delivery.id)
            self.wake.notify_all()
        return created

    # --- delivery ----------------------------------------------------------------------------------
    def post(self, destination: str, body: bytes) -> tuple[int, str]:
        """One POST with the documented 2 s budget; status 0 when there was no valid HTTP answer in time."""
        parts = urlsplit(destination)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname, parts.port, timeout=self.timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        started = time.monotonic()
        try:
            connection.request("POST", path, body=body, headers={
                "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "amoCRM-Webhooks/3.0"})
            response = connection.getresponse()
            response.read()
            if time.monotonic() - started > self.timeout:
                return 0, "answered after the timeout"
            return response.status, ""
        except (OSError, http.client.HTTPException) as exc:
            return 0, f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    def attempt(self, delivery: Delivery) -> int:
        status, error = self.post(delivery.destination, delivery.body)
        with self.lock:
            delivery.in_flight = False
            delivery.attempt += 1
            delivery.attempts.append({"at": self.now(), "status": status, "error": error})
            ok = 100 <= status < 300
            if ok:
                delivery.done = True
                self.counters["delivered"] += 1
                return status
            self.counters["failed_attempts"] += 1
            hook = self.hooks.get(delivery.webhook_id)
            window = DISABLE_WINDOW * self.time_scale
            history = [t for t in self.failures.get(delivery.webhook_id, []) if t > self.now() - window]
            history.append(self.now())
            self.failures[delivery.webhook_id] = history
            if hook is not None and len(history) > self.disable_after and not hook["disabled"]:
                hook["disabled"] = True
                self.counters["disabled"] += 1
            if may_retry(delivery.attempt, status) and hook is not None and not hook["disabled"]:
                delivery.due_at = self.now() + RETRY_DELAYS[delivery.attempt - 1] * self.time_scale
            else:
                delivery.done = True
        return status

    def claim_due(self, ignore_schedule: bool = False) -> list[Delivery]:
        with self.lock:
            now = self.now()
            due = sorted((d for d in self.deliveries.values()
                          if not d.done and not d.in_flight and (ignore_schedule or d.due_at <= now)),
                         key=lambda d: d.id)
            for delivery in due:
                delivery.in_flight = True
            return due

    def flush(self, *, ignore_schedule: bool = False, wait_seconds: float = 0.0) -> list[dict[str, Any]]:
        """Deliver everything due now (or everything pending); with wait_seconds, keep going until idle."""
        deadline = time.monotonic() + wait_seconds
        while True:
            for delivery in self.claim_due(ignore_schedule):
                self.attempt(delivery)
            with self.lock:
                pending = [d for d in self.deliveries.values() if not d.done]
            if not pending or time.monotonic() >= deadline:
                return [d.as_dict() for d in pending]
            time.sleep(0.01)

    def replay(self, ids: list[int]) -> list[int]:
        """Send these deliveries' bodies again, in this order (duplicate and out-of-order tests)."""
        statuses = []
        for delivery_id in ids:
            with self.lock:
                delivery = self.deliveries[delivery_id]
            statuses.append(self.post(delivery.destination, delivery.body)[0])
        return statuses

    def _run(self) -> None:
        while True:
            with self.lock:
                pending = [d.due_at for d in self.deliveries.values() if not d.done]
                wait = max(0.0, min(pending) - self.now()) if pending else 1.0
                if wait > 0:
                    self.wake.wait(timeout=min(wait, 1.0))
            for delivery in self.claim_due():
                try:
                    self.attempt(delivery)
                except Exception:  # never let one bad hook kill the delivery thread
                    logger.exception("webhook delivery %s failed", delivery.id)
