import os

import pytest
from django.db import connection

from integration.sandbox.process import start_sandbox
from tests.amocrm.conftest import ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The throwaway Redis of tests/with_redis.sh (`make test`), a database of its own per test worker (the
    qclusters of two tests running at once would see each other's stats); skipped without it unless CI=true."""
    url = os.environ.get("AMOERP_TEST_REDIS_URL", "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("AMOERP_TEST_REDIS_URL is not set and CI=true: run the suite under tests/with_redis.sh")
        pytest.skip("no Redis: run under tests/with_redis.sh (make test does)")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw-1")  # gw0, gw1, … ; alone: database 0
    return url.rsplit("/", 1)[0] + f"/{int(worker[2:]) + 1}"


@pytest.fixture(scope="module")
def amo_sandbox_module():
    sandbox = start_sandbox("amocrm", options={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI,
        "account_id": ACCOUNT_ID, "webhook_time_scale": 0.001, "webhook_timeout": 2.0,
    })
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def ms_sandbox_module():
    sandbox = start_sandbox("moysklad", seed="demo")
    yield sandbox
    sandbox.stop()


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a platform process started by a test: the test database, the test settings."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": url, **extra}
