"""`python -m tests.bench [name ...]`: run benchmark scenarios on a fresh, migrated database.

Each scenario is a module tests/bench/<name>.py exposing `run() -> list[dict]`; every dict is printed as
one JSON line on stdout (logs go to stderr). The database is created fresh on the cluster named by
DATABASE_URL (database `amoerp_bench`), or in a temporary SQLite file when DATABASE_URL is SQLite/unset.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = "amoerp_bench"
HERE = Path(__file__).resolve().parent
log = logging.getLogger("bench")


def scenario_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def fresh_database_url(url: str) -> str:
    """Drop and create `amoerp_bench` on the same PostgreSQL cluster; return its URL."""
    if not url.startswith(("postgres://", "postgresql://")):
        path = Path(tempfile.mkdtemp(prefix="amoerp-bench-")) / "bench.sqlite3"
        return f"sqlite:///{path}"
    import psycopg

    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(scheme="postgresql"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def main(argv: list[str]) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s bench %(message)s")
    names = argv or scenario_names()
    unknown = sorted(set(names) - set(scenario_names()))
    if unknown:
        log.error("unknown scenario(s): %s (known: %s)", ", ".join(unknown), ", ".join(scenario_names()))
        return 2
    if len(names) > 1:
        # Each scenario gets its own process and freshly migrated database: scenarios seed the same
        # catalog (units, articles) and must not see each other's rows.
        codes = [subprocess.call([sys.executable, "-m", "tests.bench", name]) for name in names]
        return 1 if any(codes) else 0
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    os.environ["DATABASE_URL"] = fresh_database_url(os.environ.get("DATABASE_URL", ""))
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # child processes inherit quiet logs
    import django

    django.setup()
    from django.core.management import call_command

    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    log.info("database %s migrated in %.1f s", os.environ["DATABASE_URL"].rsplit("/", 1)[-1], time.monotonic() - started)
    failed = 0
    for name in names:
        log.info("scenario %s: running", name)
        try:
            results = importlib.import_module(f"tests.bench.{name}").run()
        except Exception as exc:  # noqa: BLE001 - report and go on with the other scenarios
            failed += 1
            traceback.print_exc(file=sys.stderr)
            results = [{"bench": name, "error": f"{type(exc).__name__}: {exc}"}]
        for result in results:
            sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
            sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
