"""The whole suite: ruff, missing migrations, then pytest (what `make test` runs inside the cluster)."""

import os
import subprocess
import sys

VENV_BIN = os.path.dirname(sys.executable)


def run(*cmd: str) -> int:
    print("amoerp: $", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def main() -> int:
    env_db = os.environ.get("DATABASE_URL", "")
    print(f"amoerp: tests use {'PostgreSQL' if env_db.startswith('postgres') else 'SQLite'}", flush=True)
    pytest = (sys.executable, "-m", "pytest")
    if sys.argv[1:]:  # a chosen part of the suite: as asked, in one process
        tests = [(*pytest, *sys.argv[1:])]
    else:  # the whole suite: in parallel on every core, then what takes the database away, alone
        workers = os.environ.get("AMOERP_TEST_WORKERS") or str(max(2, os.cpu_count() or 2))
        # The slowest tests are listed at the end of each part: the suite must stay under 20 minutes on 2 cores.
        # Files go to the workers as collected (tests/conftest.py puts the `long` ones first), not by test count.
        tests = [(*pytest, "-n", workers, "--dist", "loadfile", "--no-loadscope-reorder", "-m", "not exclusive",
                  "--durations=15"),
                 (*pytest, "-m", "exclusive", "--durations=5")]
    steps = [
        (os.path.join(VENV_BIN, "ruff"), "check", "."),
        (sys.executable, "manage.py", "makemigrations", "--check", "--dry-run", "--settings=config.settings_test"),
        *tests,
    ]
    for step in steps:
        rc = run(*step)
        if rc != 0:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
