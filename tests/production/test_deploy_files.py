"""deploy/: the Dockerfile, compose.yaml and the systemd units run the same commands, the ones the project runs
(integration.pilot.world.Platform, what the multi-process tests start), and those commands work: each is run
here natively with the production environment of deploy/amoerp.env.example."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from configparser import ConfigParser
from pathlib import Path

import pytest
import requests
import yaml

from integration.pilot.world import Platform
from tests.test_deploy_check import clean_environ, readme_production_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
GUNICORN_TUNING = {"-b", "-w", "--threads", "--timeout", "--log-level"}  # gunicorn.conf.py and its env vars
WEB = ["gunicorn", "config.wsgi"]
WORKER = ["python", "manage.py", "qcluster"]
QUEUE_WORKER = ["python", "manage.py", "queue_worker"]
MIGRATE = ["python", "manage.py", "migrate", "--noinput"]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def dockerfile_cmd() -> list[str]:
    lines = [line for line in (DEPLOY / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    assert len(lines) == 1
    return json.loads(lines[0][4:])


def systemd_exec(unit: str) -> list[str]:
    parser = ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(DEPLOY / "systemd" / unit)
    program, *args = parser["Service"]["ExecStart"].split()
    assert program.startswith("/opt/amoerp/.venv/bin/"), program  # the project's virtualenv
    return [Path(program).name, *args]


def platform_command(name: str) -> list[str]:
    """What the project's own multi-process runs start, without per-run tuning flags and names."""
    command = Platform("127.0.0.1", 8000).command(name)
    if command[1:3] == ["-m", "gunicorn"]:
        command = ["gunicorn", *command[3:]]
    else:
        command = ["python", "manage.py", *command[2:]]
    kept, skip = [], False
    for arg in command:
        if skip:
            skip = False
        elif arg in GUNICORN_TUNING or arg == "--worker":
            skip = True
        else:
            kept.append(arg)
    return kept


def test_every_deployment_runs_the_same_commands_as_the_project():
    services = compose()["services"]
    assert platform_command("web") == WEB
    assert platform_command("qcluster") == WORKER
    assert platform_command("queue_worker_1") == QUEUE_WORKER
    assert dockerfile_cmd() == services["web"]["command"] == systemd_exec("amoerp-web.service") == WEB
    assert services["worker"]["command"] == systemd_exec("amoerp-qcluster.service") == WORKER
    assert services["queue_worker"]["command"] == systemd_exec("amoerp-queue-worker.service") == QUEUE_WORKER
    assert services["migrate"]["command"] == MIGRATE
    for name in ("web", "worker", "queue_worker", "migrate"):
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")
    assert {"db", "redis"} <= services.keys()


def test_the_units_share_the_environment_file_and_the_metrics_directory():
    for unit in ("amoerp-web.service", "amoerp-qcluster.service", "amoerp-queue-worker.service"):
        text = (DEPLOY / "systemd" / unit).read_text()
        assert "EnvironmentFile=/etc/amoerp/amoerp.env" in text
        assert "Environment=PROMETHEUS_MULTIPROC_DIR=/run/amoerp/metrics" in text
        assert "WorkingDirectory=/opt/amoerp" in text
    assert "/run/amoerp/metrics" in (DEPLOY / "systemd" / "amoerp.conf").read_text()


def example_env(tmp_path: Path) -> dict[str, str]:
    """deploy/amoerp.env.example filled in like the README's block, plus what compose sets, on a scratch SQLite."""
    text = (DEPLOY / "amoerp.env.example").read_text()
    readme = readme_production_env()
    env = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _eq, value = line.partition("=")
            env[name] = readme.get(name, value) if "<" in value else value
    env["AMOERP_METRICS_TOKEN"] = "metrics-token-0123456789"
    assert not any("<" in value for value in env.values())
    return {**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media"),
            "STATIC_ROOT": str(tmp_path / "static"), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}


def run(command: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    program = [sys.executable] if command[0] == "python" else [str(VENV_BIN / command[0])]
    return subprocess.run([*program, *command[1:]], cwd=ROOT, env=clean_environ(**env), capture_output=True,
                          text=True, timeout=180, **kwargs)


def test_the_deployment_commands_work_with_the_example_environment(tmp_path):
    env = example_env(tmp_path)
    (tmp_path / "metrics").mkdir()
    for command in (MIGRATE, ["python", "manage.py", "collectstatic", "--noinput"],
                    ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"]):
        result = run(command, env)
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])
    assert (tmp_path / "static" / "admin" / "css" / "base.css").exists()

    port = _free_port()
    env_web = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "ALLOWED_HOSTS": "127.0.0.1"}
    processes = [subprocess.Popen([*([sys.executable] if c[0] == "python" else [str(VENV_BIN / c[0])]), *c[1:]],
                                  cwd=ROOT, env=clean_environ(**e), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, start_new_session=True)
                 for c, e in ((WEB, env_web), (WORKER, env), (QUEUE_WORKER, env))]
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert all(p.poll() is None for p in processes), [p.stderr.read().decode()[-2000:] for p in processes
                                                              if p.poll() is not None]
            try:
                css = requests.get(url + "/static/admin/css/base.css", timeout=5,
                                   headers={"X-Forwarded-Proto": "https"})
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.3)
        assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]  # WhiteNoise, DEBUG off
        health = requests.get(url + "/health/", timeout=10)  # plain HTTP, as monitoring calls it: no redirect
        assert health.status_code in (200, 503) and health.json()["checks"]["database"]["ok"]
        metrics = requests.get(url + "/metrics", timeout=10,
                               headers={"Authorization": f"Bearer {env['AMOERP_METRICS_TOKEN']}"})
        assert metrics.status_code == 200 and "amoerp_outbox_pending" in metrics.text
        assert re.search(r"^django_http_requests_total_by_method_total\{", metrics.text, re.M)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("unit", ["amoerp-web.service", "amoerp-qcluster.service", "amoerp-queue-worker.service"])
def test_systemd_units_parse(unit):
    if not Path("/usr/bin/systemd-analyze").exists():
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(["/usr/bin/systemd-analyze", "verify", str(DEPLOY / "systemd" / unit)],
                            capture_output=True, text=True, timeout=60)
    assert "Unknown key" not in result.stderr and "Invalid" not in result.stderr, result.stderr
