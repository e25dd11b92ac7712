"""The world the pilot plays in: the sandboxes seeded with the demo company, the two backends connected as
`make demo` connects them, and the platform's processes (web server, queue workers, django-q2) running."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from django.conf import settings
from django.core.management.base import OutputWrapper

from integration.models import Backend
from integration.sandbox.process import SandboxProcess

WEB_WORKERS = "2"
WEB_THREADS = "4"


class WorldError(RuntimeError):
    """The world could not be started (a process died or never answered)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Platform:
    """The platform's processes as production runs them; each can be killed and restarted by name."""

    host: str
    port: int
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    log_dir: Path | None = None
    web: str = "gunicorn"  # or "runserver" (the demo: static files in DEBUG)
    quiet: bool = True  # without log_dir: drop the processes' output (False: inherit it, as the demo does)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self, name: str) -> list[str]:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        if name == "web" and self.web == "runserver":
            return [sys.executable, manage, "runserver", f"{self.host}:{self.port}", "--noreload"]
        if name == "web":
            return [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"{self.host}:{self.port}",
                    "-w", WEB_WORKERS, "--threads", WEB_THREADS, "--timeout", "120", "--log-level", "warning"]
        if name.startswith("queue_worker"):
            return [sys.executable, manage, "queue_worker", "--worker", name]
        if name == "qcluster":
            return [sys.executable, manage, "qcluster"]
        raise ValueError(f"unknown process {name!r}")

    def start(self, name: str) -> subprocess.Popen:
        out = subprocess.DEVNULL if self.quiet else None
        if self.log_dir is not None:
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the child's life
        process = subprocess.Popen(self.command(name), cwd=settings.BASE_DIR, env=self.env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    def start_all(self, queue_workers: int = 2, timeout: float = 60) -> None:
        for name in ("web", *(f"queue_worker_{i + 1}" for i in range(queue_workers)), "qcluster"):
            self.start(name)
        self.wait_web(timeout)

    def wait_web(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                with urlopen(f"{self.base}/admin/login/", timeout=5):  # noqa: S310 - our own loopback server
                    return
            except (URLError, OSError):
                if time.monotonic() > deadline:
                    raise WorldError(f"the web server did not answer at {self.base} in {timeout:.0f} s") from None
                time.sleep(0.2)

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise WorldError(f"platform process(es) exited: {dead}")

    def kill(self, name: str) -> None:
        """SIGKILL, as the OOM killer or a power cut would: no cleanup, leases left behind."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@dataclass
class World:
    platform: Platform
    ms: SandboxProcess
    amo: SandboxProcess
    erp: Backend
    crm: Backend

    def stop(self) -> None:
        self.platform.stop()
        for sandbox in (self.ms, self.amo):
            sandbox.stop()


def start_world(*, log=None, queue_workers: int = 2, log_dir: Path | None = None,
                extra_env: dict[str, str] | None = None) -> World:
    """Migrate an empty database, start and seed the sandboxes, sync, connect amoCRM, start the platform."""
    from django.core.management import call_command

    from integration.sandbox.management.commands.demo import Command as Demo

    demo = Demo(stdout=OutputWrapper(log or io.StringIO()))
    call_command("migrate", interactive=False, verbosity=0)
    if Backend.objects.exists():
        raise WorldError("the database already has backends: the pilot needs an empty, migrated database")
    platform = Platform("127.0.0.1", free_port(), env={**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})},
                       log_dir=log_dir)
    sandboxes = demo.start_sandboxes(platform.base)
    try:
        erp, crm = demo.prepare(sandboxes, platform.base)
        platform.start_all(queue_workers=queue_workers)
    except BaseException:
        platform.stop()
        for sandbox in sandboxes:
            sandbox.stop()
        raise
    return World(platform=platform, ms=sandboxes[0], amo=sandboxes[1], erp=erp, crm=crm)
