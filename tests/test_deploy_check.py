"""The README's production variables: `manage.py check --deploy` is clean with them, and the served app trusts
`X-Forwarded-Proto` only when SECURE_PROXY_SSL_HEADER names it (real gunicorn processes, real HTTP)."""

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def readme_production_env() -> dict[str, str]:
    """The ```env block of the README's Production section, each `<…>` placeholder filled with a random value."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Production", 1)[1]
    block = re.search(r"```env\n(.*?)```", section, re.S).group(1)
    env = {}
    for line in block.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _eq, value = line.partition("=")
            fill = Fernet.generate_key().decode() if name.strip() == "AMOERP_ENCRYPTION_KEYS" else secrets.token_urlsafe(50)
            env[name.strip()] = re.sub(r"<[^>]*>", lambda _m, fill=fill: fill, value.strip())
    return env


def clean_environ(**env: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("SECURE_", "AMOERP_", "DJANGO_")) and k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    return {**keep, "DJANGO_SETTINGS_MODULE": "config.settings", **env}


def test_the_readme_lists_the_production_variables():
    env = readme_production_env()
    assert env["DEBUG"] == "0"
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "SECURE_PROXY_SSL_HEADER", "AMOERP_ENCRYPTION_KEYS"} <= env.keys()


def test_check_deploy_is_clean_with_the_readme_production_variables():
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=clean_environ(**readme_production_env()), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.fixture
def serve(tmp_path):
    """serve(**env) → the URL of gunicorn serving the app with the README's production variables plus `env`."""
    started = []

    def start(**extra: str) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = clean_environ(**{**readme_production_env(), "ALLOWED_HOSTS": "127.0.0.1",
                               "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **extra})
        process = subprocess.Popen([str(VENV_BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/", timeout=2, allow_redirects=False)
                return url
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or the worker still booting
                assert process.poll() is None, process.stderr.read().decode()
                time.sleep(0.2)
        raise AssertionError("gunicorn did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def admin_login(url: str, **headers: str) -> requests.Response:
    return requests.get(url + "/admin/login/", headers=headers, timeout=10, allow_redirects=False)


def test_x_forwarded_proto_is_ignored_unless_configured(serve):
    url = serve(SECURE_PROXY_SSL_HEADER="")
    for headers in ({}, {"X-Forwarded-Proto": "https"}):
        answer = admin_login(url, **headers)
        assert answer.status_code == 301, headers  # seen as plain HTTP: sent to HTTPS, whatever the client claims
        assert answer.headers["Location"].startswith("https://127.0.0.1")
        assert "Strict-Transport-Security" not in answer.headers


def test_the_configured_proxy_header_is_trusted_and_hsts_has_no_preload(serve):
    url = serve()  # the README's SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto
    assert admin_login(url).status_code == 301
    answer = admin_login(url, **{"X-Forwarded-Proto": "https"})
    assert answer.status_code == 200
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_preload_is_sent_when_the_operator_opts_in(serve):
    answer = admin_login(serve(SECURE_HSTS_PRELOAD="1"), **{"X-Forwarded-Proto": "https"})
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
