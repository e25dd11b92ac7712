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
    steps = [
        (os.path.join(VENV_BIN, "ruff"), "check", "."),
        (sys.executable, "manage.py", "makemigrations", "--check", "--dry-run", "--settings=config.settings_test"),
        (sys.executable, "-m", "pytest", *sys.argv[1:]),
    ]
    for step in steps:
        rc = run(*step)
        if rc != 0:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
