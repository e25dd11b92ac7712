"""Secrets at rest: a database dump after a demo-like setup holds none of the backends' secrets; keys rotate; no key,
no start (outside DEBUG); webhooks still route by their secret; server request logs mask it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet, InvalidToken
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from integration import inbox
from integration.amocrm.setup import prepare_account
from integration.amocrm.tokens import current_tokens, exchange_code, refresh_access_token
from integration.backends import pause_backend, resume_backend
from integration.crypto import UndecryptableSecret
from integration.erp.moysklad.setup import subscribe_webhooks
from integration.models import Backend, InboxMessage
from tests.amocrm.conftest import ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, amo_sandbox, sandbox  # noqa: F401
from tests.erp.conftest import API, TOKEN, ms, ms_sandbox  # noqa: F401
from tests.integration_core.conftest import child_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def pg_dump() -> str:
    bindir = next((d for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
                   if (d / "pg_dump").exists()), None)
    binary = str(bindir / "pg_dump") if bindir else shutil.which("pg_dump")
    if connection.vendor != "postgresql" or not binary:
        pytest.skip("needs PostgreSQL and pg_dump")
    db = connection.settings_dict
    result = subprocess.run(
        [binary, "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"], "--data-only",
         db["NAME"]],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def post(url: str, body: bytes, content_type: str) -> int:
    return requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=10).status_code


@pytest.mark.sandbox
def test_a_database_dump_holds_no_secret_after_a_demo_like_setup(sandbox, ms, live_server):  # noqa: F811
    # amoCRM connected through the OAuth code grant, prepared (its webhook subscribed to our live server).
    amo = Backend.objects.create(name="amocrm", kind=Backend.Kind.AMOCRM, base_url=sandbox.url,
                                 credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                              "redirect_uri": REDIRECT_URI},
                                 settings={"account_id": ACCOUNT_ID, "subdomain": "demo"})
    exchange_code(amo, sandbox.control("amocrm/oauth/code", {})["code"])
    prepare_account(amo, public_url=live_server.url)
    first = current_tokens(amo)
    # MoySklad with a token, its webhooks subscribed (the webhook secret generated on the way).
    erp = Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD, base_url=ms.url + API,
                                 credentials={"token": TOKEN}, settings={"read_attempts": 2})
    subscribe_webhooks(erp, public_url=live_server.url)
    erp.refresh_from_db()
    amo.refresh_from_db()
    assert erp.webhook_secret and amo.webhook_secret

    # Webhooks received over HTTP and routed by their secret; a wrong secret finds nothing.
    product = next(p for p in ms.control("moysklad/entities/product", method="GET") if p.get("article"))
    body = (b'{"events":[{"meta":{"type":"product","href":"' + f"{ms.url}{API}/entity/product/{product['id']}".encode()
            + b'"},"action":"UPDATE","accountId":"demo"}]}')
    hook = live_server.url + reverse("moysklad:webhook", args=[erp.webhook_secret])
    assert post(hook + "?requestId=dump-1", body, "application/json") == 200
    assert post(live_server.url + reverse("moysklad:webhook", args=["not-the-secret"]), body, "application/json") == 404
    amo_body = f"leads[update][0][id]=1&leads[update][0][last_modified]=1700000000&account[id]={ACCOUNT_ID}".encode()
    assert post(live_server.url + reverse("amocrm:webhook", args=[amo.webhook_secret]), amo_body,
                "application/x-www-form-urlencoded") == 200
    assert InboxMessage.objects.get(message_id="dump-1").backend_id == erp.pk
    assert InboxMessage.objects.get(source="amocrm").backend_id == amo.pk
    inbox.process_inbox(source="moysklad")  # the worker reads MoySklad with the token: journaled, masked

    # The token pair rotated once; staff paused and resumed both (history rows).
    second = refresh_access_token(amo, first.access_token)
    for backend in (amo, erp):
        pause_backend(backend, reason="dump test")
        resume_backend(backend)

    secrets_held = {
        "amoCRM client secret": CLIENT_SECRET,
        "amoCRM access token": first.access_token, "amoCRM refresh token": first.refresh_token,
        "amoCRM new access token": second.access_token, "amoCRM new refresh token": second.refresh_token,
        "amoCRM webhook secret": amo.webhook_secret,
        "MoySklad token": TOKEN, "MoySklad webhook secret": erp.webhook_secret,
    }
    assert len(set(secrets_held.values())) == len(secrets_held)
    dump = pg_dump()
    assert "gAAAAA" in dump  # the credentials are there, as Fernet tokens
    assert "dump-1" in dump  # the webhook was stored: the dump is of the right database
    leaked = [name for name, value in secrets_held.items() if value in dump]
    assert leaked == []


def test_rotate_keys_reencrypts_every_secret_with_the_first_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(AMOERP_ENCRYPTION_KEYS=[old]):
        backend = Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="https://api.moysklad.ru",
                                         credentials={"token": "rotate-me-123456", "webhook_secret": "hook-123456"})
    result = subprocess.run([sys.executable, "manage.py", "rotate_keys"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=child_env(AMOERP_ENCRYPTION_KEYS=f"{new},{old}"))
    assert result.returncode == 0, result.stderr
    assert "1 backend(s)" in result.stdout
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integration_backend WHERE id = %s", [backend.pk])
        [token] = cursor.fetchone()
    assert b"rotate-me-123456" in Fernet(new.encode()).decrypt(token.encode())
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(token.encode())
    with override_settings(AMOERP_ENCRYPTION_KEYS=[new]):
        assert Backend.objects.get(pk=backend.pk).credentials == {"token": "rotate-me-123456",
                                                                  "webhook_secret": "hook-123456"}
    with override_settings(AMOERP_ENCRYPTION_KEYS=[old]), pytest.raises(UndecryptableSecret):
        Backend.objects.get(pk=backend.pk)


def manage_check(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "AMOERP_ENCRYPTION_KEYS"}}
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings",
                                            "SECRET_KEY": "k8#v2!pQz7@xL0m$Rt5^wYb3&Nc9*Ej4(Hs6)Ug1_Fd8+Ai2=Ko7", **env})


def test_start_is_refused_without_an_encryption_key_when_debug_is_off():
    refused = manage_check()
    assert refused.returncode != 0 and "AMOERP_ENCRYPTION_KEYS must be set" in refused.stderr
    malformed = manage_check(AMOERP_ENCRYPTION_KEYS="not-a-key")
    assert malformed.returncode != 0 and "key #1 is not a Fernet key" in malformed.stderr
    assert manage_check(AMOERP_ENCRYPTION_KEYS=Fernet.generate_key().decode()).returncode == 0


def test_debug_derives_a_development_key_and_says_so():
    result = manage_check(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "amoerp.W001" in result.stderr and "DEVELOPMENT key" in result.stderr


def test_the_admin_shows_the_webhook_secret_masked_and_never_in_the_settings(admin_client):
    backend = Backend.objects.create(name="ms", kind=Backend.Kind.MOYSKLAD, base_url="https://api.moysklad.ru",
                                     credentials={"token": "admin-token-987654"},
                                     settings={"webhook_secret": "legacy-secret-in-settings-42"})
    backend.refresh_from_db()
    assert backend.settings == {} and backend.webhook_secret == "legacy-secret-in-settings-42"
    page = admin_client.get(reverse("admin:integration_backend_change", args=[backend.pk])).content.decode()
    assert "le…42" in page and "ad…54" in page
    assert "legacy-secret-in-settings-42" not in page and "admin-token-987654" not in page
    history = admin_client.get(reverse("admin:integration_backend_history", args=[backend.pk])).content.decode()
    assert "legacy-secret-in-settings-42" not in history
    # Typed into the settings (seen by operators, kept in history), a webhook secret is refused with the reason.
    response = admin_client.post(reverse("admin:integration_backend_change", args=[backend.pk]), {
        "name": "ms", "kind": "moysklad", "base_url": "https://api.moysklad.ru", "active": "on", "paused_reason": "",
        "settings": '{"webhook_secret": "typed-into-settings-77"}', "credentials_update": ""})
    assert response.status_code == 200 and "The webhook secret is a credential" in response.content.decode()
    backend.refresh_from_db()
    assert backend.webhook_secret == "legacy-secret-in-settings-42" and backend.settings == {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_and_hit(command: list[str], port: int, secret: str) -> str:
    """Start a server process, POST a webhook with `secret` in its path, stop it; its whole output."""
    proc = subprocess.Popen(command, cwd=ROOT, env=child_env(LOG_LEVEL="INFO"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status = requests.post(f"http://127.0.0.1:{port}/hooks/moysklad/{secret}/?requestId=log-1",
                                       data=b"{}", headers={"Content-Type": "application/json"}, timeout=5).status_code
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        assert status == 404
        time.sleep(0.5)  # the log line is written after the answer
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    return output


def test_runserver_request_log_masks_the_webhook_secret():
    port, secret = free_port(), "runserver-path-secret-314159"
    output = serve_and_hit([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], port, secret)
    assert '"POST /hooks/moysklad/***/?requestId=log-1 HTTP/1.1" 404' in output, output
    assert "Not Found: /hooks/moysklad/***/" in output
    assert secret not in output


def test_gunicorn_access_log_masks_the_webhook_secret():
    port, secret = free_port(), "gunicorn-path-secret-271828"
    output = serve_and_hit([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                            f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "-",
                            "--logger-class", "integration.access_log.MaskingLogger"], port, secret)
    assert '"POST /hooks/moysklad/***/?requestId=log-1 HTTP/1.1" 404' in output, output
    assert secret not in output


def test_the_migration_encrypts_existing_rows_and_moves_the_webhook_secret_and_back():
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("integration", "0004_inbox_attempt_limit")], [("integration", "0005_encrypt_backend_secrets")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO integration_backend (name, kind, base_url, credentials, settings, cursors, paused,"
                " paused_reason, dry_run, active, created_at, updated_at) VALUES ('old', 'moysklad', 'https://x.test/',"
                " %s, %s, '{}', false, '', false, true, now(), now()) RETURNING id",
                ['{"token": "plain-token-123456"}', '{"webhook_secret": "plain-hook-654321", "page_limit": 100, '
                 '"webhooks": [{"destination": "https://erp.test/hooks/amocrm/plain-hook-654321/", "disabled": true}]}'])
            [pk] = cursor.fetchone()
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        with connection.cursor() as cursor:
            cursor.execute("SELECT credentials, settings::text FROM integration_backend WHERE id = %s", [pk])
            stored, settings_text = cursor.fetchone()
        assert stored.startswith("gAAAAA") and "plain" not in stored and "plain-hook" not in settings_text
        backend = Backend.objects.get(pk=pk)
        assert backend.credentials == {"token": "plain-token-123456", "webhook_secret": "plain-hook-654321"}
        assert backend.settings == {"page_limit": 100, "webhooks": [
            {"destination": "https://erp.test/hooks/amocrm/***/", "disabled": True}]}
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        with connection.cursor() as cursor:
            cursor.execute("SELECT credentials::text, settings::text FROM integration_backend WHERE id = %s", [pk])
            credentials_text, settings_text = cursor.fetchone()
        assert '"plain-token-123456"' in credentials_text and '"webhook_secret": "plain-hook-654321"' in settings_text
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
