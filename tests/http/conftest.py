"""Real round trips: `flask db upgrade`, then gunicorn as a subprocess on a free port.

The servers use the suite's database: a SQLite file in a temporary folder, or
TEST_DATABASE_URL (MySQL/MariaDB). Tests pick fresh userIDs (`unique_id`), so
they never depend on what another test left behind.
"""

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from tests.http.server import Server, Servers


@pytest.fixture(scope="package")
def http_database_url(migrated_database, tmp_path_factory) -> str:
    return migrated_database or f"sqlite:///{tmp_path_factory.mktemp('http-db') / 'openim.db'}"


@pytest.fixture(scope="package")
def server(tmp_path_factory, http_database_url) -> Iterator[Server]:
    """The suite's gunicorn: four sync workers on the test database."""
    servers = Servers(tmp_path_factory)
    yield servers.start(http_database_url)
    servers.stop_all()


@pytest.fixture
def start_server(tmp_path_factory) -> Iterator[Callable[..., Server]]:
    """`start_server(database_url, workers=4, upgrade=True, extra_env=None)`; stopped after the test."""
    servers = Servers(tmp_path_factory)
    yield servers.start
    servers.stop_all()


@pytest.fixture(scope="package")
def database(http_database_url) -> Iterator[Engine]:
    """An engine of the test process on the servers' database, to check what they stored."""
    engine = create_engine(http_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def unique_id() -> Callable[[str], str]:
    """`unique_id("race")` -> a userID no other test (or earlier run) used."""
    run = uuid.uuid4().hex[:12]
    return lambda label="u": f"{label}-{run}"
