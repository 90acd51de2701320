"""A database without tables (`flask db upgrade` never run) gets one clear line, not a traceback."""

import logging
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.checkout_or_installed import admin_command
from app.rules import tokens
from tests.helpers import SECRET, TEST_DATABASE_URL, Api, is_mysql

FIX = admin_command("db upgrade")


@pytest.fixture(params=["sqlite", "mysql"])
def empty_database_url(request, tmp_path):
    """A database that exists and answers, with no tables: SQLite always, MariaDB when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not is_mysql(TEST_DATABASE_URL):
        pytest.skip("needs TEST_DATABASE_URL (MySQL/MariaDB)")
    url = make_url(TEST_DATABASE_URL)
    name = f"{url.database}_empty_{uuid.uuid4().hex[:8]}"
    server = create_engine(url.set(database=""))
    with server.begin() as connection:
        connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.begin() as connection:
            connection.execute(text(f"DROP DATABASE `{name}`"))
        server.dispose()


@pytest.mark.parametrize(
    "args",
    [
        ["users", "list"],
        ["users", "show", "alice"],
        ["users", "token", "alice"],
        ["users", "create", "alice", "--nickname", "Alice"],
        ["users", "kick", "alice"],
        ["users", "delete", "alice", "--yes"],
    ],
    ids=lambda args: args[1],
)
def test_cli_says_to_run_db_upgrade_in_one_line(app_on, empty_database_url, args):
    result = app_on(empty_database_url).test_cli_runner().invoke(args=args)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.count("\n") == 1
    assert FIX in result.output
    assert "Traceback" not in result.output


def test_service_answers_503_and_logs_the_fix(app_on, empty_database_url, caplog):
    client = app_on(empty_database_url).test_client()
    caplog.set_level(logging.ERROR, logger="app.web.handlers")
    response = client.post(
        "/auth/user_token", json={"secret": SECRET, "platform": 1, "userID": "alice", "operationID": "op-1"}
    )
    assert response.status_code == 503
    assert response.json == {"errCode": 802, "errMsg": "db failed", "data": None}
    assert [record.getMessage() for record in caplog.records if FIX in record.getMessage()]


@pytest.mark.parametrize("dialect", ["v2", "v3"])
def test_a_token_check_answers_503_and_logs_the_fix(app_on, empty_database_url, caplog, dialect):
    """The token check reads on the driver (storage/driver_statements.py): its errors reach the same handlers."""
    app = app_on(empty_database_url)
    client = app.test_client()
    caplog.set_level(logging.ERROR, logger="app.web.handlers")
    with app.app_context():
        token = tokens.mint("alice", 1, tokens.V2 if dialect == "v2" else tokens.V3).token
    if dialect == "v2":
        response = Api(client).parse(token)
        assert response.json == {"errCode": 802, "errMsg": "db failed", "data": None}
    else:
        response = client.post("/v3/auth/parse_token", json={"token": token}, headers={"operationID": "op-1"})
        assert response.json["errCode"] == 500
    assert response.status_code == 503
    assert [record.getMessage() for record in caplog.records if FIX in record.getMessage()]


def test_a_failing_database_with_tables_is_not_called_unset_up(app, client, monkeypatch, caplog):
    """Only a missing table names the fix; another failure is logged as a failure."""
    from sqlalchemy.exc import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr("app.rules.users.issue_token", broken)
    caplog.set_level(logging.ERROR, logger="app.web.handlers")
    response = client.post(
        "/auth/user_token", json={"secret": SECRET, "platform": 1, "userID": "alice", "operationID": "op-1"}
    )
    assert response.json["errCode"] == 802
    assert not [record for record in caplog.records if FIX in record.getMessage()]
