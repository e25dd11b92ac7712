"""Production mode: refuses the default secret, and passes `manage.py check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE",
                                                         "AMOERP_ENCRYPTION_KEYS"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_the_default_secret_key():
    result = manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_check_deploy():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="k8#v2!pQz7@xL0m$Rt5^wYb3&Nc9*Ej4(Hs6)Ug1_Fd8+Ai2=Ko7-Jl5~Mn3|Bq9",
        ALLOWED_HOSTS="amoerp.example.com",
        AMOERP_ENCRYPTION_KEYS="Zm9yLXRoZS1kZXBsb3ktY2hlY2stb25seS0zMi1ieXQ=",
        AMOERP_PUBLIC_URL="https://amoerp.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_mode_starts_with_the_default_secret():
    result = manage("check", DEBUG="1")
    assert result.returncode == 0, result.stderr
