"""`mode=import` within a time budget: the first call starts the file's import in a thread, every call waits
for it at most the budget and answers `progress` (with how far it got) until it ends, then `success` or
`failure`. The import itself is one transaction (imports.py), so an interrupted one leaves nothing behind:
a job whose process or thread is gone is reported as a failure, and 1C's next exchange starts it again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from django.db import connection

from integration.erp.commerceml import imports
from integration.erp.commerceml.sessions import ExchangeError, Session
from integration.syncruns import process_alive

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
_threads: dict[tuple[str, str], threading.Thread] = {}


@dataclass(frozen=True)
class Answer:
    status: str  # progress | success | failure
    message: str


def _interrupted(session: Session, name: str, job: dict) -> bool:
    if job.get("pid") == os.getpid():
        thread = _threads.get((str(session.dir), name))
        return thread is None or not thread.is_alive()
    return not process_alive(int(job.get("pid") or 0))


def _set_job(session: Session, name: str, **values) -> None:
    with session.locked():
        state = session.state()
        jobs = state.setdefault("imports", {})
        jobs[name] = {**jobs.get(name, {}), **values}
        session.save(state)


def _run(session: Session, name: str) -> None:
    try:
        session.unzip_pending()
        path = session.path_of(name)
        if not path.is_file():
            raise ExchangeError(f"filename {name}: the file was not received")
        run = imports.import_file(session.backend, path,
                                  progress=lambda done: _set_job(session, name, done=done, beat=time.time()))
        session.remove(name)
        _set_job(session, name, status="succeeded", run_id=run.pk,
                 message=f"{name}: {run.created} created, {run.updated} updated, {run.unchanged} unchanged")
    except Exception as exc:  # noqa: BLE001 - every error becomes 1C's `failure` with its reason
        logger.warning("CommerceML import of %s failed: %s", name, exc)
        _set_job(session, name, status="failed", message=f"{name}: {exc}")
    finally:
        connection.close()


def import_step(session: Session, name: str, budget: float) -> Answer:
    """One `mode=import` call for `name`: start it or wait for it, at most `budget` seconds."""
    name = str(session.path_of(name).relative_to(session.files))  # sanitised; BadFileName otherwise
    with session.locked():
        state = session.state()
        job = state.setdefault("imports", {}).get(name)
        if job is None and name in state.get("imported", {}):  # 1C asks again (our answer was lost)
            return Answer("success", state["imported"][name])
        if job is None:
            job = {"status": "running", "pid": os.getpid(), "started": time.time(), "done": 0}
            state["imports"][name] = job
            session.save(state)
            thread = threading.Thread(target=_run, args=(session, name), name=f"cml-import-{name}", daemon=True)
            _threads[(str(session.dir), name)] = thread
            thread.start()
    deadline = time.monotonic() + budget
    while True:
        job = session.state().get("imports", {}).get(name, {})
        if job.get("status") != "running":
            break
        if _interrupted(session, name, job):
            job = {"status": "failed", "message": f"{name}: the import was interrupted; nothing of it was applied"}
            break
        if time.monotonic() >= deadline:
            return Answer("progress", f"{name}: {job.get('done', 0)} records read")
        time.sleep(POLL_SECONDS)
    with session.locked():  # reported once; a success is remembered, a failure is tried again on the next call
        state = session.state()
        state.get("imports", {}).pop(name, None)
        if job.get("status") == "succeeded":
            state.setdefault("imported", {})[name] = job.get("message", "")
        session.save(state)
    _threads.pop((str(session.dir), name), None)
    return Answer("success" if job.get("status") == "succeeded" else "failure", job.get("message", ""))
