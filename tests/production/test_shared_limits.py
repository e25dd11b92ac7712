"""The per-account request budgets are shared by every process (PostgreSQL by default, Redis with REDIS_URL):
3 processes × 3 threads pushing at once through the real clients keep amoCRM at ≤ 7 requests in any second
and MoySklad at ≤ 45 units in any 3 s, and meet no 429 (the sandboxes enforce both limits)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integration.models import Backend
from tests.amocrm.conftest import connect_backend
from tests.production.conftest import child_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def push(kind: str, backend: Backend, total: int, tmp_path: Path, **env: str) -> tuple[list[dict], int]:
    """3 processes send `total` requests together; returns every request sent (time, weight) and the 429s seen."""
    go = tmp_path / f"{kind}.go"
    logs = [tmp_path / f"{kind}-{i}.jsonl" for i in range(3)]
    children = [subprocess.Popen([sys.executable, "-m", "tests.production.push_requests", kind, str(backend.pk),
                                  str(total // 3), str(go), str(log)], cwd=ROOT, env=child_env(**env))
                for log in logs]
    deadline = time.monotonic() + 60
    while not all(Path(f"{log}.ready").exists() for log in logs):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children), "a child did not start"
        time.sleep(0.05)
    go.touch()  # all three start sending at once
    for child in children:
        assert child.wait(timeout=120) == 0
    sent, rejected = [], 0
    for log in logs:
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        rejected += rows[-1]["http_429"]
        sent += rows[:-1]
    return sorted(sent, key=lambda r: r["t"]), rejected


def busiest(sent: list[dict], window: float) -> int:
    """The most units sent within any `window` seconds."""
    best = 0
    for i, first in enumerate(sent):
        best = max(best, sum(r["w"] for r in sent[i:] if r["t"] < first["t"] + window))
    return best


@pytest.fixture(params=["postgres", "redis"])
def store(request) -> dict[str, str]:
    """Where the shared windows live: the environment of the pushing processes."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return {"REDIS_URL": url}
    return {}


def test_amocrm_three_processes_share_7_per_second(amo_sandbox_module, store, tmp_path):
    amo_sandbox_module.reset()
    backend = connect_backend(amo_sandbox_module)
    sent, rejected = push("amocrm", backend, 30, tmp_path, **store)
    assert len(sent) >= 30
    assert busiest(sent, 1.0) <= 7
    assert rejected == 0
    assert amo_sandbox_module.control("stats", method="GET")["counters"].get("http_429", 0) == 0


def test_moysklad_three_processes_share_45_per_3_seconds(ms_sandbox_module, store, tmp_path):
    ms_sandbox_module.reset()
    ms_sandbox_module.control("seed", {"dataset": "demo"})
    backend = Backend.objects.create(name="moysklad", kind=Backend.Kind.MOYSKLAD,
                                     base_url=ms_sandbox_module.url + "/api/remap/1.2",
                                     credentials={"token": "sandbox-token"})
    sent, rejected = push("moysklad", backend, 120, tmp_path, **store)
    assert len(sent) >= 120
    assert busiest(sent, 3.0) <= 45
    assert sum(r["w"] for r in sent) > 3 * 45  # long enough to fill several windows
    requests = ms_sandbox_module.control("stats", method="GET")["requests"]
    assert rejected == 0
    assert requests.get("429_rate", 0) == 0 and requests.get("429_parallel", 0) == 0


@pytest.mark.parametrize("kind", ["local", "postgres", "redis"])
def test_a_limiter_told_not_to_wait_long_refuses_and_reserves_nothing(kind, request):
    """The relay's deliveries may not wait long for amoCRM's budget (integration.ratelimit.deferrable): a refused
    grant must not be reserved, or the refusals themselves would push the budget ever further away."""
    from integration.amocrm.ratelimit import DatabaseLimiter, LocalLimiter, RedisLimiter
    from integration.errors import BudgetSpent

    backend = Backend.objects.create(name=f"amo-{kind}", kind=Backend.Kind.AMOCRM, base_url="https://x.amocrm.ru/")
    limiter = {"local": lambda: LocalLimiter(limit=2, period=5.0),
               "postgres": lambda: DatabaseLimiter(backend, limit=2, period=5.0),
               "redis": lambda: RedisLimiter(backend, request.getfixturevalue("redis_url"), limit=2, period=5.0)}[kind]()
    assert limiter.acquire(max_wait=0.5) == 0 and limiter.acquire(max_wait=0.5) == 0  # the budget: spent for 5 s
    with pytest.raises(BudgetSpent) as first:
        limiter.acquire(max_wait=0.5)
    with pytest.raises(BudgetSpent) as second:
        limiter.acquire(max_wait=0.5)
    assert 4.0 < second.value.retry_after <= first.value.retry_after <= 5.0  # no grant was queued by the first


@pytest.mark.parametrize("kind", ["local", "postgres", "redis"])
def test_a_settled_slot_is_held_from_the_answer_not_from_the_grant(kind, request):
    """amoCRM counts a request on arrival, which is before its answer: once the answer is in, the slot is held until
    the answer's time + the window (+ a small margin) — sooner than `period` after the grant when the answer came
    fast, later when it came late."""
    from integration.amocrm.ratelimit import (
        SETTLE_MARGIN,
        Answered,
        DatabaseLimiter,
        LocalLimiter,
        RedisLimiter,
    )
    from integration.errors import BudgetSpent

    def make(name: str, **window):
        backend = Backend.objects.create(name=f"amo-{kind}-{name}", kind=Backend.Kind.AMOCRM,
                                         base_url="https://x.amocrm.ru/")
        return {"local": lambda: LocalLimiter(**window),
                "postgres": lambda: DatabaseLimiter(backend, **window),
                "redis": lambda: RedisLimiter(backend, request.getfixturevalue("redis_url"), **window)}[kind]()

    fast = make("fast", limit=1, period=5.0, window=0.3)  # unsettled, a slot would be held 5 s
    fast.settle(fast.take())
    assert 0.25 <= fast.acquire(max_wait=1.0) <= 0.3 + SETTLE_MARGIN

    late = make("late", limit=1, period=0.1, window=0.5)  # unsettled, a slot would be free 0.1 s after its grant
    grant = late.take()
    time.sleep(0.2)  # the answer took 0.2 s: the request may have arrived just now
    late.settle(grant)
    with pytest.raises(BudgetSpent) as spent:
        late.acquire(max_wait=0.0)
    assert 0.45 <= spent.value.retry_after <= 0.5 + SETTLE_MARGIN

    # A client sending request after request hands its last answer over with its next take(): settled even when
    # that take is refused.
    handed = make("handed", limit=1, period=5.0, window=0.3)
    grant = handed.take()
    with pytest.raises(BudgetSpent) as spent:
        handed.take(0.0, Answered(grant, ago=0.1))
    assert 0.15 <= spent.value.retry_after <= 0.2 + SETTLE_MARGIN + 0.001
    assert 0.1 <= handed.acquire(max_wait=1.0) <= 0.2 + SETTLE_MARGIN
