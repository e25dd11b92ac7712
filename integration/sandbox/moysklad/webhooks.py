"""Webhook delivery as MoySklad does it: POST url?requestId=…, 1.5 s to answer, 3 immediate retries."""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from urllib.error import URLError
from urllib.request import Request, urlopen

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    url: str
    body: dict
    request_id: str


class WebhookDispatcher:
    """A background thread that posts queued deliveries; `drain` waits until the queue is empty."""

    def __init__(self, timeout: float = 1.5, retries: int = 3):
        self.timeout = timeout
        self.retries = retries
        # Faults for rehearsals (POST /_control/moysklad/webhooks/faults): send each delivery twice, hold every
        # n-th one back until after the next (out of order), drop every n-th one unsent (never delivered).
        self.duplicate = False
        self.reorder_every = 0
        self.lose_every = 0
        self._held: Delivery | None = None
        self._sequence = 0
        self.queue: queue.Queue[Delivery | None] = queue.Queue()
        self.counts: Counter[str] = Counter()
        self.log: list[dict] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, url: str, body: dict) -> str:
        request_id = str(uuid.uuid4())
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="moysklad-webhooks", daemon=True)
                self._thread.start()
        self.counts["queued"] += 1
        self.queue.put(Delivery(url, body, request_id))
        return request_id

    def drain(self, timeout: float = 30) -> bool:
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (self.queue.join(), done.set()), daemon=True)
        waiter.start()
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            delivery = self.queue.get()
            try:
                if delivery is not None:
                    self._send(delivery)
                if self.queue.empty() and self._held is not None:  # nothing came after it: send it now
                    held, self._held = self._held, None
                    self._deliver(held)
            finally:
                self.queue.task_done()

    def _send(self, delivery: Delivery) -> None:
        self._sequence += 1
        if self.lose_every and self._sequence % self.lose_every == 0:
            self.counts["lost"] += 1
            return
        if self.reorder_every and self._held is None and self._sequence % self.reorder_every == 0:
            self._held = delivery
            return
        self._deliver(delivery)
        if self.duplicate:
            self._deliver(delivery)
        if self._held is not None:
            held, self._held = self._held, None
            self._deliver(held)
            if self.duplicate:
                self._deliver(held)

    def _deliver(self, delivery: Delivery) -> None:
        separator = "&" if "?" in delivery.url else "?"
        url = f"{delivery.url}{separator}requestId={delivery.request_id}"
        data = json.dumps(delivery.body, ensure_ascii=False).encode("utf-8")
        for attempt in range(1 + self.retries):
            status = None
            try:
                request = Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
                with urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the configured webhook URL
                    status = response.status
            except URLError as exc:
                status = getattr(exc, "code", None)
            except (TimeoutError, OSError):
                status = None
            self.log.append({"requestId": delivery.request_id, "attempt": attempt + 1, "status": status})
            self.counts["attempts"] += 1
            if status in (200, 204):
                self.counts["delivered"] += 1
                return
        self.counts["dropped"] += 1
        logger.info("webhook %s dropped after %s attempts", delivery.request_id, 1 + self.retries)
