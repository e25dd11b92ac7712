"""A local HTTP receiver (threaded stdlib server) that records deliveries by idempotency key.

Paths: /ok (200), /reject (422), /flaky/<n>[/<status>] (503 or <status> for the first n requests of a key, then 200),
/slow/<ms> (sleep, then 200). Every request is recorded; effects are deduplicated by key.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every request, in arrival order
        self.effects: dict[str, dict] = {}  # one per idempotency key
        self.per_key = Counter()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body in two packets cost a 40 ms delayed ACK

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotency-Key", "")
                parts = self.path.strip("/").split("/")
                with receiver.lock:
                    receiver.per_key[key] += 1
                    seen = receiver.per_key[key]
                    receiver.requests.append({"key": key, "body": body, "path": self.path, "at": time.monotonic()})
                status = 200
                if parts[0] == "reject":
                    status = 422
                elif parts[0] == "flaky" and seen <= int(parts[1]):
                    status = int(parts[2]) if len(parts) > 2 else 503
                elif parts[0] == "slow":
                    time.sleep(int(parts[1]) / 1000)
                if status == 200:
                    with receiver.lock:
                        receiver.effects.setdefault(key, body)
                payload = json.dumps({"ok": status == 200, "key": key}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def down(self) -> None:
        """Go away: connections to the port are refused (the remote system is down) until `up()`."""
        self.stop()

    def up(self) -> None:
        """Come back on the same port, with the same records."""
        port = self.server.server_address[1]
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self.server.RequestHandlerClass)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for_effects(self, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.effects) >= count:
                    return True
            time.sleep(0.05)
        return False
