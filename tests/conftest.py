import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    """Files holding a `long` test go first (make test hands files to its workers in this order: the longest
    first, so the run does not end with one worker on a long file and the other idle). PostgreSQL-only tests
    are skipped, with the reason, when the suite runs on SQLite."""
    from django.conf import settings

    long_files = {item.path for item in items if item.get_closest_marker("long")}
    items.sort(key=lambda item: item.path not in long_files)  # stable: the order within and between files kept
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (row locks and real concurrency); run `make test`")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _language_left_as_found():
    """Requests made in the test's thread (Django's test client, a live server in-thread) activate a language
    (LocaleMiddleware); the next test in the same process expects the default, whatever ran before it."""
    from django.utils import translation

    language = translation.get_language()
    yield
    translation.activate(language) if language else translation.deactivate_all()


@pytest.fixture(autouse=True)
def _relay_pace_forgotten():
    """The relay sizes its batches by how slow this process's recent deliveries were; a test starts unjudged."""
    from integration import relay, remembered

    relay.reset_pace()
    remembered.forget()  # the remotes' answers kept per process (order states, pipelines, the files host)
