"""A bare HTTP/1.1 client over a socket: sends exactly the bytes a test gives (bodies, headers, query strings that
no well-behaved client library would let through), and reads the status, headers and body of the answer."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def send(base_url: str, target: str, body: bytes = b"", *, method: str = "POST",
         headers: dict[str, bytes | str] | None = None, timeout: float = 30.0) -> Answer:
    """`target` is the raw request target (path and query, not re-encoded)."""
    parts = urlsplit(base_url)
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1"), f"Host: {parts.netloc}".encode(), b"Connection: close"]
    all_headers: dict[str, bytes | str] = {"Content-Length": str(len(body)), **(headers or {})}
    for name, value in all_headers.items():
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode("latin-1")))
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _sep, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _colon, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), found, payload)
