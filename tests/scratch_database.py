"""A MySQL/MariaDB database of a test's own, next to TEST_DATABASE_URL's: `<its name>_src`.

Dropped and created anew for every test that asks for it, with utf8mb4's
default collation (as `CREATE DATABASE … CHARACTER SET utf8mb4` makes it).
TEST_SCRATCH_DATABASE_URL names another one, for runs without TEST_DATABASE_URL
(the SQLite pass of `make test`).
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.helpers import TEST_DATABASE_URL, is_mysql

SCRATCH_SUFFIX = "_src"


def scratch_database_url() -> str | None:
    if os.environ.get("TEST_SCRATCH_DATABASE_URL"):
        return os.environ["TEST_SCRATCH_DATABASE_URL"]
    if is_mysql(TEST_DATABASE_URL):
        url = make_url(TEST_DATABASE_URL)
        return url.set(database=url.database + SCRATCH_SUFFIX).render_as_string(hide_password=False)
    return None


NO_SCRATCH_REASON = "needs a MariaDB: TEST_DATABASE_URL or TEST_SCRATCH_DATABASE_URL"


@contextmanager
def fresh_mysql_database(url: str) -> Iterator[str]:
    """The database of `url`, dropped and created empty (utf8mb4); dropped again afterwards."""
    url = make_url(url)
    server = create_engine(url.set(database=""))
    drop = text(f"DROP DATABASE IF EXISTS `{url.database}`")
    try:
        with server.begin() as connection:
            connection.execute(drop)
            connection.execute(text(f"CREATE DATABASE `{url.database}` CHARACTER SET utf8mb4"))
        yield url.render_as_string(hide_password=False)
        with server.begin() as connection:
            connection.execute(drop)
    finally:
        server.dispose()


@contextmanager
def empty_scratch_database() -> Iterator[str]:
    """The scratch database's URL, the database empty; dropped afterwards. Skips the test without one."""
    if scratch_database_url() is None:
        pytest.skip(NO_SCRATCH_REASON)
    with fresh_mysql_database(scratch_database_url()) as url:
        yield url
