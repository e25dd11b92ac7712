"""`manage.py backend` and `manage.py outbox` (drain, status, replay, discard)."""

import io

import pytest
from django.core.management import CommandError, call_command

from integration import outbox
from integration.models import OutboxEvent

from . import receiver_handlers  # noqa: F401 - registers "test.deliver"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_backend_pause_resume_and_list_without_secrets(backend):
    assert "paused" in run("backend", "pause", "erp", "--reason", "ERP maintenance")
    backend.refresh_from_db()
    assert backend.paused and backend.paused_reason == "ERP maintenance"
    listing = run("backend", "list")
    assert "erp\tmoysklad\tpaused" in listing and "tok-SECRET-0123456789" not in listing and "to…89" in listing
    run("backend", "resume", "erp")
    backend.refresh_from_db()
    assert not backend.paused and backend.paused_reason == ""
    with pytest.raises(CommandError, match="no backend named 'missing'"):
        call_command("backend", "pause", "missing")


def test_outbox_drain_status_replay_discard(backend, receiver):
    ok = outbox.enqueue(backend=backend, topic="test.deliver", aggregate="a:1", payload={"url": f"{receiver.url}/ok"})
    bad = outbox.enqueue(backend=backend, topic="test.deliver", aggregate="a:2", payload={"url": f"{receiver.url}/reject"})
    assert "drained: 2" in run("outbox", "drain")
    assert run("outbox", "status") == "dead: 1\ndelivered: 1\n"
    assert "replayed: 1" in run("outbox", "replay", str(bad.pk))
    assert "discarded: 1" in run("outbox", "discard", str(bad.pk), "--reason", "sent by phone")
    assert OutboxEvent.objects.get(pk=bad.pk).status == "discarded"
    assert "replayed: 1" in run("outbox", "replay", str(ok.pk))  # a delivered event can be sent again
    assert OutboxEvent.objects.get(pk=ok.pk).status == "pending"
    with pytest.raises(CommandError, match="no outbox event with id 999"):
        call_command("outbox", "replay", "999")
