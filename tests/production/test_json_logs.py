"""LOG_FORMAT=json: one JSON object per line, carrying the request id / outbox event id / sync run id, with the
webhook secrets masked as everywhere else."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Zq8ssq7TcW1tqz0nWmN3pQ"  # noqa: S105 - a webhook path secret that must never be printed
SCRIPT = f"""
import logging
import django
django.setup()
from django.test import Client
from integration import log_context

log = logging.getLogger("integration.relay")
with log_context.bind(outbox_event_id=42):
    log.warning("delivering to %s", "/hooks/moysklad/{SECRET}/")
with log_context.bind(sync_run_id=7):
    log.info("sync step")
Client().get("/hooks/amocrm/{SECRET}/nowhere/", HTTP_X_REQUEST_ID="req-123", HTTP_HOST="localhost")
"""


def test_json_lines_carry_the_context_and_no_secret():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "LOG_FORMAT": "json"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # every line is JSON
    by_message = {line["message"]: line for line in lines}
    delivering = next(line for message, line in by_message.items() if message.startswith("delivering"))
    assert delivering["outbox_event_id"] == 42 and delivering["level"] == "WARNING"
    assert by_message["sync step"]["sync_run_id"] == 7
    not_found = next(line for line in lines if line["logger"] == "django.request")
    assert not_found["request_id"] == "req-123"
    assert {"time", "level", "logger", "message", "request_id", "outbox_event_id", "sync_run_id"} <= delivering.keys()
