"""A 1C client simulator: does what 1C's «Обмен с сайтом» does against our exchange URL.

checkauth (Basic auth) → keep the cookie → init (reads zip= and file_limit=) → each file POSTed in parts of
file_limit bytes (zipped first when the site allows) → mode=import repeated while the answer is `progress` →
`success`; then sale: query → success, and 1C's answers back with sale&mode=file. Tests, the demo and the
benchmark use it; `python -m integration.sandbox.commerceml.client URL LOGIN PASSWORD FILE…` feeds it the files a
company exported from its own 1C.
"""

from __future__ import annotations

import io
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import requests


class ExchangeFailed(RuntimeError):
    """The site answered `failure` (the reason is the message)."""


@dataclass
class Transcript:
    """What the site answered, call by call (the tests read it)."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (type, mode, first line)

    def modes(self, mode: str) -> list[str]:
        return [first for _t, m, first in self.calls if m == mode]


class OneCSimulator:
    def __init__(self, url: str, login: str, password: str, *, version: str | None = None, zip_files: bool = True,
                 login_encoding: str = "utf-8", poll_pause: float = 0.0):
        self.url, self.version, self.zip_files, self.poll_pause = url, version, zip_files, poll_pause
        self.http = requests.Session()
        self.auth = (login.encode(login_encoding), password.encode(login_encoding))
        self.transcript = Transcript()
        self.zip = False
        self.file_limit = 0
        self.session_id = ""

    # ------------------------------------------------------------------ protocol steps
    def call(self, kind: str, mode: str, *, data: bytes | None = None, auth=None, **params) -> requests.Response:
        method = "POST" if data is not None else "GET"
        response = self.http.request(method, self.url, params={"type": kind, "mode": mode, **params}, data=data,
                                     auth=auth, timeout=300)
        first = response.content.split(b"\n", 1)[0].decode("ascii", "replace").strip()
        self.transcript.calls.append((kind, mode, first))
        return response

    def lines(self, response: requests.Response) -> list[str]:
        charset = response.encoding or "utf-8"
        return response.content.decode(charset).splitlines()

    def checkauth(self, kind: str = "catalog") -> list[str]:
        lines = self.lines(self.call(kind, "checkauth", auth=self.auth))
        if lines[0] != "success":
            raise ExchangeFailed("\n".join(lines[1:]))
        self.http.cookies.clear()  # 1C sends back the cookie the lines name, not what Set-Cookie said
        self.http.cookies.set(lines[1], lines[2])
        self.session_id = lines[2]
        return lines

    def init(self, kind: str = "catalog") -> dict[str, str]:
        params = {"version": self.version} if self.version else {}
        values = dict(line.split("=", 1) for line in self.lines(self.call(kind, "init", **params)) if "=" in line)
        self.zip = values.get("zip") == "yes" and self.zip_files
        self.file_limit = int(values.get("file_limit", "0")) or 1024 * 1024
        return values

    def upload(self, kind: str, name: str, content: bytes) -> None:
        for start in range(0, max(len(content), 1), self.file_limit):
            lines = self.lines(self.call(kind, "file", data=content[start:start + self.file_limit], filename=name))
            if lines[0] != "success":
                raise ExchangeFailed("\n".join(lines[1:]))

    def import_file(self, name: str, kind: str = "catalog") -> list[str]:
        while True:
            lines = self.lines(self.call(kind, "import", filename=name))
            if lines[0] == "progress":
                time.sleep(self.poll_pause)
                continue
            if lines[0] != "success":
                raise ExchangeFailed("\n".join(lines[1:]))
            return lines

    # ------------------------------------------------------------------ whole exchanges
    def exchange_catalog(self, files: dict[str, bytes]) -> Transcript:
        """checkauth → init → upload (zipped in one archive when allowed) → import each XML file in order."""
        self.checkauth("catalog")
        self.init("catalog")
        if self.zip:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
                for name, content in files.items():
                    bundle.writestr(name, content)
            self.upload("catalog", "import.zip", buffer.getvalue())
        else:
            for name, content in files.items():
                self.upload("catalog", name, content)
        for name in files:
            if name.lower().endswith(".xml"):
                self.import_file(name)
        self.call("catalog", "complete")
        return self.transcript

    def query_orders(self, *, acknowledge: bool = True) -> bytes:
        self.checkauth("sale")
        self.init("sale")
        response = self.call("sale", "query")
        if response.content.startswith(b"failure"):
            raise ExchangeFailed(response.content.decode("utf-8", "replace"))
        if acknowledge:
            self.call("sale", "success")
        return response.content

    def send_orders(self, content: bytes, name: str = "orders.xml") -> list[str]:
        self.checkauth("sale")
        self.init("sale")
        self.upload("sale", name, content)
        if self.version:  # the "new" protocol: file, then import
            return self.import_file(name, kind="sale")
        return ["success"]


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        sys.stderr.write("usage: python -m integration.sandbox.commerceml.client URL LOGIN PASSWORD FILE…\n")
        return 2
    url, login, password, *paths = argv
    simulator = OneCSimulator(url, login, password)
    simulator.exchange_catalog({Path(p).name: Path(p).read_bytes() for p in paths})
    for kind, mode, first in simulator.transcript.calls:
        sys.stdout.write(f"{kind:8} {mode:10} {first}\n")
    sys.stdout.write(simulator.query_orders().decode("utf-8", "replace") + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
