"""The e2e journeys' platform: the three services in the test's process, on SQLite stores."""

import pytest

from tests.running import running_services, sqlite_stores


@pytest.fixture
def services(settings, tmp_path):
    with running_services(settings, sqlite_stores(tmp_path)) as running:
        yield running
