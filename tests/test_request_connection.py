"""One database connection per request (app/storage/database.py): the token check and the issue share it."""

import pytest
from sqlalchemy import event, insert, select

from app.errors import TokenKicked
from app.extensions import db
from app.rules import tokens, users
from app.storage.database import run_in_transaction
from app.storage.models import User
from tests.v3_calls import call, register_users


def checkouts_during(app, action) -> int:
    """How many connections the engine's pool hands out while `action()` runs."""
    count = 0

    def note(*_args):
        nonlocal count
        count += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "checkout", note)
    try:
        action()
    finally:
        event.remove(engine, "checkout", note)
    return count


def test_a_v3_get_user_token_takes_one_connection(v3_app, v3_client, admin):
    register_users(v3_client, admin, "alice")

    def ask():
        answer = call(v3_client, "/auth/get_user_token", {"platformID": 1, "userID": "alice"}, token=admin)
        assert answer["errCode"] == 0

    assert checkouts_during(v3_app, ask) == 1


def test_a_v2_user_token_takes_one_connection(app, api):
    api.register("alice")
    assert checkouts_during(app, lambda: api.user_token("alice")) == 1


def test_a_registration_takes_one_connection_in_both_dialects(app, api, v3_app, v3_client, admin):
    """The wait past a deleted userID's last second reads on the connection the registration then writes on."""
    assert checkouts_during(app, lambda: api.register("alice")) == 1
    assert checkouts_during(v3_app, lambda: register_users(v3_client, admin, "bob")) == 1


def test_a_registration_inside_a_unit_of_work_leaves_its_transaction_alone(app):
    """A fresh read there takes a connection of its own: ending the unit's transaction would lose its writes."""
    with app.app_context():

        def register_alongside(connection):
            assert connection.execute(select(User.user_id)).all() == []
            users.register({"user_id": "inner", "nickname": "i"}, "op-inner")
            connection.execute(insert(User.__table__), {"user_id": "outer", "nickname": "o", "operation_id": "op"})

        run_in_transaction(register_alongside)
        stored = set(db.session.execute(select(User.user_id)).scalars())
    assert stored == {"inner", "outer"}


def test_a_token_check_sees_a_kick_committed_after_an_earlier_check_in_the_same_context(app, api):
    """On MySQL/MariaDB, a read left open would keep its snapshot (repeatable read) and miss the kick."""
    token = api.register("alice")
    with app.app_context():
        assert tokens.check(token).user_id == "alice"
        with app.app_context():  # another request's, as a concurrent one would be
            users.kick_user("alice")
        with pytest.raises(TokenKicked):
            tokens.check(token)


def test_a_unit_of_work_begun_inside_another_leaves_the_outer_transaction_alone(app):
    """Its commit must not commit the outer unit's writes, which then roll back."""

    def outer(connection):
        connection.execute(insert(User.__table__), {"user_id": "alice", "nickname": "a", "operation_id": "op"})
        run_in_transaction(lambda inner: inner.execute(select(1)).scalar_one())
        raise RuntimeError("the outer unit fails")

    with app.app_context():
        with pytest.raises(RuntimeError):
            run_in_transaction(outer)
        assert db.session.get(User, "alice") is None


def test_a_rollback_that_fails_at_the_end_of_a_request_costs_neither_the_answer_nor_the_pool(app, api, monkeypatch):
    """A read that leaves a transaction open (the token check's), then a rollback that fails at teardown,
    as a Galera node that is not ready yet fails it (1047): the answer goes out, no connection is
    left checked out, and the next request gets a working one."""
    token = api.register("alice")
    with app.app_context():
        engine = db.engine
    dialect = engine.dialect
    real_rollback = dialect.do_rollback
    failures = []

    def failing_once(dbapi_connection):
        if not failures:
            failures.append(True)
            raise dialect.loaded_dbapi.OperationalError(1047, "WSREP has not yet prepared node for application use")
        real_rollback(dbapi_connection)

    monkeypatch.setattr(dialect, "do_rollback", failing_once)
    assert api.parse(token).json["errCode"] == 0
    assert failures == [True]
    monkeypatch.setattr(dialect, "do_rollback", real_rollback)
    assert engine.pool.checkedout() == 0
    assert api.parse(token).json["errCode"] == 0
