"""Fixtures: `app`, `client`, `api`, `runner`, and the database they share.

Tests run on SQLite (a fresh file per test) unless TEST_DATABASE_URL names a
MySQL/MariaDB database: then the schema is migrated once per session with
`flask db upgrade`'s code, and every test starts from empty tables.
"""

import flask_migrate
import pytest
from sqlalchemy import delete, text

from app import create_app
from app.extensions import db
from tests.helpers import FIXED_NOW, TEST_DATABASE_URL, Api, base_config, is_mysql


def reset_mysql_schema(url: str) -> None:
    """Drop every table and migrate from nothing, as `flask db upgrade` does."""
    app = create_app(base_config(url))
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for (table,) in connection.execute(text("SHOW TABLES")).all():
                connection.execute(text(f"DROP TABLE `{table}`"))
        flask_migrate.upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_database():
    if TEST_DATABASE_URL:
        reset_mysql_schema(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


@pytest.fixture
def database_url(migrated_database, tmp_path) -> str:
    return migrated_database or f"sqlite:///{tmp_path / 'test.db'}"


def empty_tables() -> None:
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(delete(table))
    db.session.commit()


@pytest.fixture
def make_app(database_url, tmp_path, monkeypatch):
    """Build apps on the test database; `make_app(OPENIM_MULTI_LOGIN="single")`."""
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path / "instance"))
    apps = []

    def factory(**overrides):
        app = create_app({**base_config(database_url), **overrides})
        with app.app_context():
            if not is_mysql(database_url):
                db.create_all()
            elif not apps:
                empty_tables()  # whatever an earlier test left behind
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            if is_mysql(database_url) and app is apps[0]:
                empty_tables()
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app_on(tmp_path, monkeypatch):
    """Apps on any database URL, working or not: no tables made, engines disposed at the end."""
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path / "instance"))
    apps = []

    def factory(database_url: str):
        app = create_app(base_config(database_url))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client) -> Api:
    """The routes through `client`: `api.register("alice")`, `api.parse_code(token)`… (tests/helpers.py)."""
    return Api(client)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def clock():
    """A settable clock: `clock.now = …` moves time for apps built with it."""

    class Clock:
        now = FIXED_NOW

        def __call__(self) -> int:
            return self.now

    return Clock()


# The v3 tests' fixtures (v3_app, v3_client, admin) live with their helpers.
# OpenIM's Redis: the suite's own redis-server processes, and apps that write to them.
from tests.redis_servers import redis_app, redis_server, redis_standalone  # noqa: E402,F401
from tests.v3_calls import admin, v3_app, v3_client  # noqa: E402,F401
