"""Statements straight on the driver (app/storage/driver_statements.py) keep what SQLAlchemy's execute does."""

import pytest
from sqlalchemy import bindparam, literal_column, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.extensions import db
from app.rules import tokens
from app.storage import user_rows
from app.storage.database import request_connection
from app.storage.driver_statements import DriverStatement
from app.storage.models import User, utc_datetime
from tests.helpers import is_mysql

_users = User.__table__
_nickname_of = DriverStatement(
    select(_users.c.nickname, literal_column("7")).where(_users.c.user_id == bindparam("user_id"))
)


def test_the_first_row_as_the_driver_gives_it_or_none(app, api):
    api.register("alice", nickname="Alice")
    with app.app_context():
        connection = request_connection()
        assert tuple(_nickname_of.first(connection, {"user_id": "alice"})) == ("Alice", 7)
        assert _nickname_of.first(connection, {"user_id": "ALICE"}) is None


def test_the_read_is_in_the_connections_transaction_as_execute_would_begin_it(app, api):
    """So that fresh_read ends it: on MySQL/MariaDB its snapshot would hide later commits."""
    api.register("alice")
    with app.app_context():
        connection = request_connection()
        assert not connection.in_transaction()
        _nickname_of.first(connection, {"user_id": "alice"})
        assert connection.in_transaction()


def lose(connection, app) -> None:
    """The connection goes away under the app: the server ends it (MySQL/MariaDB), or the file handle closes."""
    if is_mysql(app.config["SQLALCHEMY_DATABASE_URI"]):
        thread_id = connection.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()
        connection.rollback()
        with connection.engine.connect() as killer:
            killer.execute(text(f"KILL {int(thread_id)}"))
    else:
        connection.connection.dbapi_connection.close()


def test_a_lost_connection_is_invalidated_and_raised_as_sqlalchemys_error(app, api):
    token = api.register("alice")
    with app.app_context():
        connection = request_connection()
        lose(connection, app)
        with pytest.raises(DBAPIError) as raised:
            tokens.check(token)
        assert raised.value.connection_invalidated
        assert connection.invalidated
    with app.app_context():  # the next request's connection is a good one
        assert tokens.check(token).user_id == "alice"


def test_a_failing_read_answers_503_not_500(app, api, monkeypatch):
    token = api.register("alice")

    compiled_for = DriverStatement._compiled_for

    def a_column_gone(self, dialect):
        sql, order = compiled_for(self, dialect)
        return sql.replace("token_records.platform", "token_records.no_such_column"), order

    monkeypatch.setattr(DriverStatement, "_compiled_for", a_column_gone)
    response = api.parse(token)
    assert (response.status_code, response.json["errCode"]) == (503, 802)


def test_an_insert_converts_through_the_column_types_and_fills_the_defaults(app):
    """The registration's INSERT: a datetime goes through its type's bind processor (a string on SQLite)."""
    registered_at = utc_datetime(1_700_000_000)
    with app.app_context():
        connection = request_connection()
        given = {"user_id": "alice", "nickname": "Alice", "operation_id": "op-1", "created_at": registered_at}
        user_rows.insert_user(connection, given)
        connection.commit()
        stored = db.session.execute(select(User).where(User.user_id == "alice")).scalar_one()
        assert (stored.nickname, stored.operation_id, stored.created_at) == ("Alice", "op-1", registered_at)
        for column in _users.columns:
            if column.name not in given and column.default is not None:
                assert getattr(stored, column.key) == column.default.arg


def test_an_insert_of_a_taken_user_id_raises_sqlalchemys_integrity_error(app, api):
    """What the registration's rule catches to tell a retry from a taken userID."""
    api.register("alice")
    with app.app_context():
        connection = request_connection()
        with pytest.raises(IntegrityError):
            user_rows.insert_user(
                connection,
                {"user_id": "alice", "nickname": "A", "operation_id": "op2", "created_at": utc_datetime(1_700_000_000)},
            )
        connection.rollback()
