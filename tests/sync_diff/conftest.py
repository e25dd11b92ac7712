from tests.erp.conftest import backend, ms, ms_sandbox  # noqa: F401 - fixtures
