"""docs/operations.md's move to MariaDB, run as written: SQLite -> export -> MariaDB `db upgrade` -> import."""

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import insert

from app.extensions import db
from app.storage.models import User
from tests.helpers import EMPTY_OPTIONALS, table_rows, varied_users
from tests.scratch_database import empty_scratch_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def flask(environment: dict, *arguments: str) -> subprocess.CompletedProcess:
    """`flask --app wsgi …` as an operator runs it, from the checkout."""
    completed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *arguments],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return completed


def to_the_second(rows: list[tuple]) -> list[tuple]:
    """MariaDB's created_at holds whole seconds (docs/cli.md, users export)."""
    return [
        tuple((key, value.replace(microsecond=0) if key == "created_at" else value) for key, value in row)
        for row in rows
    ]


def test_moving_from_sqlite_to_mariadb_as_the_readme_says(app_on, tmp_path):
    with empty_scratch_database() as mariadb_url:
        move_as_the_readme_says(app_on, tmp_path, mariadb_url)


def move_as_the_readme_says(app_on, tmp_path, mariadb_url: str) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
    environment["OPENIM_INSTANCE_PATH"] = str(tmp_path / "instance")
    # A service on the embedded SQLite, as `make run` leaves it, with users in it.
    flask(environment, "db", "upgrade")
    sqlite_app = app_on(f"sqlite:///{tmp_path / 'instance' / 'openim.db'}")
    users = varied_users()
    with sqlite_app.app_context():
        db.session.execute(insert(User.__table__), [{**EMPTY_OPTIONALS, **user} for user in users])
        db.session.commit()

    # 2. Export from SQLite.
    export_file = tmp_path / "users.jsonl"
    flask(environment, "users", "export", str(export_file))
    # 3. Point the service at MariaDB and create the tables.
    environment["FLASK_SQLALCHEMY_DATABASE_URI"] = mariadb_url
    flask(environment, "db", "upgrade")
    # 4. Import: nothing invalid, nothing already there.
    imported = flask(environment, "users", "import", str(export_file))
    assert f"created {len(users)}, already there 0, invalid 0" in imported.stdout
    # 5. The check: as many users as lines in the file.
    listed = flask(environment, "users", "list")
    assert len(listed.stdout.splitlines()) == len(export_file.read_bytes().splitlines()) == len(users)

    mariadb_app = app_on(mariadb_url)
    assert table_rows(mariadb_app) == to_the_second(table_rows(sqlite_app))
    with mariadb_app.app_context():
        db.engine.dispose()  # before the database is dropped
