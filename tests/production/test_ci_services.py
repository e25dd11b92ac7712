"""`make test` wraps the suite in tests/with_postgres.sh and tests/with_redis.sh: with CI=true a missing
PostgreSQL or Redis fails the run instead of falling back (to SQLite, or to skipping the Redis tests)."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["tests/with_postgres.sh", "tests/with_redis.sh"])
@pytest.mark.parametrize("ci", ["true", ""])
def test_a_missing_service_fails_only_under_ci(script, ci):
    # PATH names nothing: neither the server binaries nor pg_config/ls are found, as on a bare machine
    result = subprocess.run(["/bin/bash", script, "/bin/true"], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/nonexistent", "CI": ci}, timeout=30)
    if ci:
        assert result.returncode == 1
        assert "CI=true" in result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_make_test_installs_redis_and_runs_the_suite_inside_both_services():
    recipe = (ROOT / "Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "tests/ensure_redis.sh" in recipe
    assert "tests/with_postgres.sh tests/with_redis.sh $(PY) -m tests.run_suite" in recipe
