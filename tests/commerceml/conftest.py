from pathlib import Path

import pytest

from integration.erp.commerceml.config import configure_exchange
from integration.models import Backend
from integration.sandbox.commerceml.client import OneCSimulator

LOGIN = "Обмен"
PASSWORD = "s3cret-пароль"
FIXTURES = Path(__file__).resolve().parents[2] / "integration" / "sandbox" / "commerceml" / "fixtures"


def make_backend(**settings) -> tuple[Backend, str]:
    backend = Backend.objects.create(name="onec-cml", kind=Backend.Kind.ONEC_CML, base_url="https://1c.invalid/")
    secret = configure_exchange(backend, login=LOGIN, password=PASSWORD,
                                **{"exchange_budget_seconds": 5, "exchange_file_limit": 4096, **settings})
    return backend, secret


@pytest.fixture
def exchange(live_server, db):
    """A 1C (CommerceML) backend, and a factory of 1C simulators calling its exchange URL on the live server."""
    backend, secret = make_backend()
    url = f"{live_server.url}/exchange/1c/{secret}/"

    def simulator(**options) -> OneCSimulator:
        return OneCSimulator(url, options.pop("login", LOGIN), options.pop("password", PASSWORD), **options)

    simulator.backend = backend
    simulator.url = url
    return simulator


def demo_files(encoding: str = "utf-8") -> dict[str, bytes]:
    if encoding == "windows-1251":
        return {"import.xml": (FIXTURES / "cp1251" / "import.xml").read_bytes(),
                "offers.xml": (FIXTURES / "cp1251" / "offers.xml").read_bytes()}
    return {"import0_1.xml": (FIXTURES / "import0_1.xml").read_bytes(),
            "offers0_1.xml": (FIXTURES / "offers0_1.xml").read_bytes()}
