"""The token check's read straight on the driver (app/storage/driver_reads.py) keeps what SQLAlchemy's execute does."""

import pytest
from sqlalchemy import bindparam, literal_column, select, text
from sqlalchemy.exc import DBAPIError

from app.rules import tokens
from app.storage.database import request_connection
from app.storage.driver_reads import DriverRead
from app.storage.models import User
from tests.helpers import is_mysql

_users = User.__table__
_nickname_of = DriverRead(
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

    compiled_for = DriverRead._compiled_for

    def a_column_gone(self, dialect):
        sql, order = compiled_for(self, dialect)
        return sql.replace("token_records.platform", "token_records.no_such_column"), order

    monkeypatch.setattr(DriverRead, "_compiled_for", a_column_gone)
    response = api.parse(token)
    assert (response.status_code, response.json["errCode"]) == (503, 802)
