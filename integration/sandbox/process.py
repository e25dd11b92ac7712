"""Start a sandbox emulator as its own OS process (tests, benchmarks and `make demo` use this)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

from django.conf import settings

READY_PREFIX = "sandbox "


class SandboxStartError(RuntimeError):
    """The emulator process did not come up."""


@dataclass
class SandboxProcess:
    name: str
    url: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    def control(self, path: str, payload: dict | None = None, method: str = "POST") -> Any:
        data = None if payload is None and method == "GET" else json.dumps(payload or {}).encode()
        request = Request(
            f"{self.url}/_control/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urlopen(request, timeout=60) as response:  # noqa: S310 - our own loopback control API
            body = response.read()
        return json.loads(body) if body else None

    def set_faults(self, **faults: Any) -> dict:
        return self.control("faults", faults)

    def reset(self) -> None:
        self.control("reset", {})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_sandbox(
    name: str,
    *,
    seed: str | None = None,
    options: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    port: int = 0,
    timeout: float = 60,
) -> SandboxProcess:
    manage = Path(settings.BASE_DIR) / "manage.py"
    cmd = [sys.executable, str(manage), "run_sandbox", name, "--port", str(port)]
    if seed:
        cmd += ["--seed", seed]
    for key, value in (options or {}).items():
        cmd += ["--option", f"{key}={json.dumps(value)}"]
    proc_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=proc_env, cwd=settings.BASE_DIR
    )
    output: list[str] = []
    ready = threading.Event()
    url_holder: list[str] = []

    def pump() -> None:
        # Keep draining the output so the child never blocks on a full pipe.
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if not ready.is_set() and line.startswith(READY_PREFIX) and " listening on " in line:
                url_holder.append(line.rsplit(" ", 1)[-1].strip())
                ready.set()
        ready.set()

    threading.Thread(target=pump, name=f"sandbox-{name}-output", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.1):
        if time.monotonic() > deadline:
            process.kill()
            raise SandboxStartError(f"sandbox {name} did not start in {timeout}s: {output[-20:]}")
    if not url_holder:
        process.wait(timeout=5)
        raise SandboxStartError(f"sandbox {name} exited: {output[-20:]}")
    return SandboxProcess(name=name, url=url_holder[0], process=process, output=output)
