import pytest

from integration.models import Backend
from integration.sandbox.process import start_sandbox

LOGIN = "Администратор"
PASSWORD = "sandbox"


@pytest.fixture(scope="session")
def onec_sandbox():
    sandbox = start_sandbox("onec", seed="demo", options={"pool_size": 4})
    yield sandbox
    sandbox.stop()


@pytest.fixture
def onec(onec_sandbox):
    """The 1C sandbox (УТ 11) with the demo company freshly loaded and no faults."""
    onec_sandbox.reset()
    onec_sandbox.control("seed", {"dataset": "demo"})
    yield onec_sandbox
    onec_sandbox.reset()


def make_backend(sandbox, **settings) -> Backend:
    return Backend.objects.create(
        name="onec",
        kind=Backend.Kind.ONEC_ODATA,
        base_url=sandbox.url + "/demo",
        credentials={"login": LOGIN, "password": PASSWORD},
        settings={"backoff_seconds": 0.05, "read_attempts": 2, "pool_size": 4, **settings},
    )


@pytest.fixture
def backend(onec, db):
    return make_backend(onec)


def entities(sandbox, entity_set: str, filter_: str = "") -> list[dict]:
    from urllib.parse import quote

    path = f"onec/entities/{quote(entity_set)}" + (f"?filter={quote(filter_)}" if filter_ else "")
    return sandbox.control(path, method="GET")
