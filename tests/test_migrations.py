"""Migrations: `flask db upgrade` from nothing and from every revision, on SQLite and MySQL/MariaDB.

Each test gets an empty database of its own: a fresh SQLite file, or a scratch
MySQL database next to TEST_DATABASE_URL's, created with a latin1 default so
that the utf8mb4 binary collation provably comes from the migrations.
"""

from datetime import datetime

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.checkout_or_installed import MIGRATIONS
from app.extensions import db
from app.storage.models import User
from tests.helpers import TEST_DATABASE_URL, base_config, is_mysql

SCRIPTS = ScriptDirectory(str(MIGRATIONS))
HEAD = SCRIPTS.get_current_head()
REVISIONS = [script.revision for script in reversed(list(SCRIPTS.walk_revisions()))]

needs_mysql = pytest.mark.skipif(not is_mysql(TEST_DATABASE_URL), reason="needs TEST_DATABASE_URL (MySQL/MariaDB)")
on_both_backends = pytest.mark.parametrize(
    "empty_database_url", [pytest.param("sqlite"), pytest.param("mysql", marks=needs_mysql)], indirect=True
)
on_mysql = pytest.mark.parametrize("empty_database_url", [pytest.param("mysql", marks=needs_mysql)], indirect=True)


@pytest.fixture
def empty_database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    url = make_url(TEST_DATABASE_URL)
    scratch = f"{url.database}_migrations"
    server = create_engine(url.set(database=""))
    with server.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{scratch}`"))
        connection.execute(text(f"CREATE DATABASE `{scratch}` CHARACTER SET latin1 COLLATE latin1_swedish_ci"))
    yield url.set(database=scratch).render_as_string(hide_password=False)
    with server.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{scratch}`"))
    server.dispose()


@pytest.fixture
def migrating_app(empty_database_url):
    app = create_app(base_config(empty_database_url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def table_names() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_revisions_form_one_line():
    assert REVISIONS and REVISIONS[-1] == HEAD
    assert len(SCRIPTS.get_heads()) == 1


@on_both_backends
def test_flask_db_upgrade_creates_the_schema_from_nothing(migrating_app):
    result = migrating_app.test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert current_revision() == HEAD
    assert table_names() == set(db.metadata.tables) | {"alembic_version"}


@on_both_backends
@pytest.mark.parametrize("revision", REVISIONS)
def test_upgrade_from_each_revision_to_head(migrating_app, revision):
    flask_migrate.upgrade(revision=revision)
    assert current_revision() == revision

    flask_migrate.upgrade()
    assert current_revision() == HEAD
    assert schema_differences() == []


@on_both_backends
def test_models_and_migrations_agree(migrating_app):
    flask_migrate.upgrade()
    assert schema_differences() == []


@on_both_backends
def test_downgrade_to_nothing_and_up_again(migrating_app):
    flask_migrate.upgrade()
    flask_migrate.downgrade(revision="base")
    assert table_names() <= {"alembic_version"}

    flask_migrate.upgrade()
    assert current_revision() == HEAD
    assert schema_differences() == []


def mysql_schema_rows(query: str) -> list:
    with db.engine.connect() as connection:
        return connection.execute(text(query), {"schema": db.engine.url.database}).all()


@on_mysql
def test_every_text_column_is_utf8mb4_bin_whatever_the_database_default(migrating_app):
    flask_migrate.upgrade()
    tables = mysql_schema_rows(
        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = :schema"
    )
    columns = mysql_schema_rows(
        "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = :schema AND CHARACTER_SET_NAME IS NOT NULL AND TABLE_NAME != 'alembic_version'"
    )
    assert {table: collation for table, collation in tables if table != "alembic_version"} == {
        table: "utf8mb4_bin" for table in db.metadata.tables
    }
    assert columns, "no text columns found"
    assert {(charset, collation) for _, _, charset, collation in columns} == {("utf8mb4", "utf8mb4_bin")}


@on_mysql
def test_schema_suits_mysql_compatible_distributed_engines(migrating_app):
    """Explicit primary keys on every table, InnoDB, no triggers, routines or foreign keys."""
    flask_migrate.upgrade()
    keyed = mysql_schema_rows(
        "SELECT TABLE_NAME FROM information_schema.TABLE_CONSTRAINTS"
        " WHERE TABLE_SCHEMA = :schema AND CONSTRAINT_TYPE = 'PRIMARY KEY'"
    )
    engines = mysql_schema_rows("SELECT DISTINCT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = :schema")
    triggers = mysql_schema_rows("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = :schema")
    routines = mysql_schema_rows("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = :schema")
    foreign_keys = mysql_schema_rows(
        "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = :schema"
    )
    assert {table for (table,) in keyed} >= set(db.metadata.tables)
    assert engines == [("InnoDB",)]
    assert triggers == routines == foreign_keys == []


def insert_old_records(rows: list[tuple[bytes, str, str]]) -> None:
    """token_records as 0002 made them: (hash, userID, status) per issue, duplicates allowed."""
    with db.engine.begin() as connection:
        for token_hash, user_id, status in rows:
            connection.execute(
                text(
                    "INSERT INTO token_records (token_hash, user_id, platform, status, issued_at, expires_at)"
                    " VALUES (:token_hash, :user_id, 1, :status, 100, 200)"
                ),
                {"token_hash": token_hash, "user_id": user_id, "status": status},
            )


def stored_records() -> dict[bytes, tuple[str, str]]:
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT token_hash, user_id, status FROM token_records")).all()
    return {bytes(token_hash): (user_id, status) for token_hash, user_id, status in rows}


@on_both_backends
def test_0004_keeps_one_record_per_token_a_normal_one_if_any(migrating_app):
    flask_migrate.upgrade(revision="0003_v3_user_fields")
    kicked_then_reissued, only_kicked, only_normal = (bytes([n]) * 32 for n in (1, 2, 3))
    insert_old_records(
        [
            (kicked_then_reissued, "alice", "kicked"),
            (kicked_then_reissued, "alice", "normal"),
            (kicked_then_reissued, "alice", "kicked"),
            (only_kicked, "bob", "kicked"),
            (only_kicked, "bob", "kicked"),
            (only_normal, "carol", "normal"),
            (only_normal, "carol", "normal"),
        ]
    )

    flask_migrate.upgrade()

    expected = {
        kicked_then_reissued: ("alice", "normal"),
        only_kicked: ("bob", "kicked"),
        only_normal: ("carol", "normal"),
    }
    assert stored_records() == expected
    flask_migrate.downgrade(revision="0003_v3_user_fields")
    assert stored_records() == expected


@on_both_backends
def test_0004_moves_earlier_users_created_at_a_second_back(migrating_app):
    """Their first token was minted a moment before the wall clock's created_at (which MySQL rounds)."""
    flask_migrate.upgrade(revision="0003_v3_user_fields")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (user_id, nickname, face_url, gender, phone_number, birth, email, ex,"
                " operation_id, created_at) VALUES ('alice', 'A', '', 0, '', 0, '', '', 'op', :created_at)"
            ),
            {"created_at": "2026-12-01 10:00:00.700000"},  # text: no datetime adapter (deprecated in 3.12)
        )
    flask_migrate.upgrade()

    created_at = db.session.execute(select(User.created_at)).scalar_one()
    # SQLite kept 10:00:00.7 and MariaDB 10:00:00: now 09:59:59; MySQL had rounded it up to 10:00:01:
    # now 10:00:00. Either way, no later than the second of the user's first token.
    assert datetime(2026, 12, 1, 9, 59, 59) <= created_at <= datetime(2026, 12, 1, 10, 0, 0)
