"""MySQL/MariaDB as a first-class backend: exact user IDs, 4-byte UTF-8, the pool, retries.

Runs only when TEST_DATABASE_URL names a MySQL/MariaDB database. Everything
goes through the HTTP test client; the database is read directly only to
check what was stored.
"""

import logging
import threading
import time

import pytest
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from app.extensions import db
from app.storage.models import User
from app.storage.mysql_waits import MYSQL_LOCK_WAIT_TIMEOUT_SECONDS
from tests.helpers import TEST_DATABASE_URL, Api, is_mysql

pytestmark = pytest.mark.skipif(not is_mysql(TEST_DATABASE_URL), reason="needs TEST_DATABASE_URL (MySQL/MariaDB)")

FOUR_BYTE = "😀𠀀𝒜"  # an emoji, CJK extension B, a mathematical letter: all outside the BMP


def stored(app, user_id: str) -> User | None:
    with app.app_context():
        return db.session.get(User, user_id)


@pytest.fixture
def other_connection():
    """A connection of its own to the test database, outside the app under test."""
    engine = create_engine(TEST_DATABASE_URL)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


class TestExactUserIds:
    # Pairs that MySQL's default (case- and accent-insensitive) collations fold into one.
    DISTINCT = [
        ["Bob", "bob", "BOB"],
        ["\u00e9", "e\u0301", "e", "E"],  # é precomposed, é decomposed, plain e
        ["straße", "strasse"],
        ["Ｂｏｂ", "bob-x", "ｂｏｂ"],  # full width
        ["😀", "😁"],  # utf8mb4_unicode_ci compares these equal
    ]

    @pytest.mark.parametrize("user_ids", DISTINCT)
    def test_ids_differing_only_in_case_or_form_are_different_users(self, app, api, user_ids):
        for user_id in user_ids:
            answer = api.try_register(user_id, operation_id=f"op-{user_id}").json
            assert (answer["errCode"], answer["data"]["userID"]) == (0, user_id)
        for user_id in user_ids:
            assert api.try_user_token(user_id).json["data"]["userID"] == user_id
            assert stored(app, user_id).operation_id == f"op-{user_id}"

    def test_lookup_does_not_fold_case(self, api):
        assert api.try_register("Bob").json["errCode"] == 0
        assert api.try_user_token("bob").json["errCode"] == 1101
        assert api.try_user_token("BOB").json["errCode"] == 1101
        assert api.try_register("Bob", operation_id="other").json["errCode"] == 1102


class TestFourByteUtf8:
    FIELDS = {
        "nickname": FOUR_BYTE * 21 + "😀",  # 64 characters, 256 bytes
        "faceURL": "https://example.com/" + "𠀀" * 1004,  # 1024 characters
        "phoneNumber": "📞" * 32,
        "email": "😀@𠀀.example",
        "ex": " " + "𝒜" * 1022 + " ",  # white space at both ends is kept
    }
    STORED = {
        "nickname": "nickname",
        "faceURL": "face_url",
        "phoneNumber": "phone_number",
        "email": "email",
        "ex": "ex",
    }

    @pytest.mark.parametrize("user_id", [FOUR_BYTE, "𠀀" * 64, "user😀", "用户<1>&"])
    def test_user_id_round_trips(self, app, api, user_id):
        answer = api.try_register(user_id).json
        assert (answer["errCode"], answer["data"]["userID"]) == (0, user_id)
        assert api.try_user_token(user_id).json["data"]["userID"] == user_id
        assert stored(app, user_id).user_id == user_id

    def test_every_text_field_round_trips_at_its_longest(self, app, api):
        answer = api.try_register(FOUR_BYTE, operation_id="😀" * 64, **self.FIELDS).json
        assert answer["errCode"] == 0
        user = stored(app, FOUR_BYTE)
        for wire_name, attribute in self.STORED.items():
            assert getattr(user, attribute) == self.FIELDS[wire_name], wire_name
        assert user.operation_id == "😀" * 64
        # The operationID is compared exactly too: a retry with it succeeds again.
        assert api.try_register(FOUR_BYTE, operation_id="😀" * 64).json["errCode"] == 0
        assert api.try_register(FOUR_BYTE, operation_id="😀" * 63 + "😁").json["errCode"] == 1102

    def test_connection_is_utf8mb4_even_when_the_url_names_no_charset(self, make_app):
        url = make_url(TEST_DATABASE_URL).difference_update_query(["charset"]).render_as_string(hide_password=False)
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        assert Api(app.test_client()).try_register(FOUR_BYTE).json["errCode"] == 0
        assert stored(app, FOUR_BYTE).user_id == FOUR_BYTE


class TestConnections:
    def test_session_settings(self, app):
        with app.app_context():
            row = db.session.execute(
                text(
                    "SELECT @@SESSION.innodb_lock_wait_timeout, @@SESSION.lock_wait_timeout,"
                    " @@SESSION.character_set_connection"
                )
            ).one()
        assert tuple(row) == (MYSQL_LOCK_WAIT_TIMEOUT_SECONDS, MYSQL_LOCK_WAIT_TIMEOUT_SECONDS, "utf8mb4")

    def test_a_pooled_connection_the_server_dropped_is_replaced_unnoticed(self, app, api, other_connection):
        with app.app_context():
            connection_id = db.session.execute(text("SELECT CONNECTION_ID()")).scalar_one()
            db.session.remove()
        other_connection.execute(text(f"KILL CONNECTION {int(connection_id)}"))

        answer = api.try_register("after-kill").json
        assert answer["errCode"] == 0
        with app.app_context():
            assert db.session.execute(text("SELECT CONNECTION_ID()")).scalar_one() != connection_id

    def test_a_request_that_committed_sends_no_rollback_when_its_connection_goes_back(self, make_app):
        """The pool's reset ROLLBACK would be a round trip on every request (app/storage/mysql_connections.py)."""
        app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})  # one connection, reused
        api = Api(app.test_client())
        api.register("alice")

        def rollbacks() -> int:
            with app.app_context(), db.engine.connect() as connection:  # its close rolls back: one more
                return int(connection.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'")).one()[1])

        before = rollbacks()
        for _ in range(5):
            assert api.try_user_token("alice").json["errCode"] == 0
        assert rollbacks() - before == 1

    def test_a_connection_given_back_inside_a_transaction_keeps_no_snapshot(self, make_app, other_connection):
        """A transaction the app did not end (raw driver use) is still rolled back as the connection goes back."""
        app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})
        count = "SELECT COUNT(*) FROM users"
        with app.app_context():
            raw = db.engine.raw_connection()
            cursor = raw.cursor()
            cursor.execute("SELECT CONNECTION_ID()")
            (connection_id,) = cursor.fetchone()
            cursor.execute(count)  # InnoDB's REPEATABLE READ: the snapshot is taken here
            (seen,) = cursor.fetchone()
            cursor.close()
            other_connection.execute(insert(User).values(user_id="late", nickname="late", operation_id="late"))
            other_connection.commit()
            raw.close()
            with db.engine.connect() as connection:
                assert connection.execute(text("SELECT CONNECTION_ID()")).scalar_one() == connection_id
                assert connection.execute(text(count)).scalar_one() == seen + 1


def hold_row_lock(connection, user_id: str) -> None:
    """Insert `user_id` in a transaction left open: other inserts of it wait."""
    connection.begin()
    connection.execute(
        insert(User).values(
            user_id=user_id,
            nickname="holder",
            face_url="",
            gender=0,
            phone_number="",
            birth=0,
            email="",
            ex="",
            operation_id="holder",
            created_at=text("NOW()"),
        )
    )


def wait_for_inserts(connection, count: int, timeout: float = 5) -> None:
    """Wait until `count` connections to the test database are inside an INSERT INTO users."""
    query = text(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = :database AND INFO LIKE 'INSERT INTO users%'"
    )
    database = make_url(TEST_DATABASE_URL).database
    deadline = time.monotonic() + timeout
    while connection.execute(query, {"database": database}).scalar_one() < count:
        assert time.monotonic() < deadline, f"{count} inserts never started"
        time.sleep(0.02)
    # From inside the statement to waiting on the row lock takes microseconds.
    time.sleep(0.2)


def in_threads(*calls):
    results = [None] * len(calls)

    def run(index):
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    return threads, results


class TestTransientErrors:
    def test_lock_wait_timeout_is_retried(self, make_app, other_connection, caplog):
        caplog.set_level(logging.INFO, logger="app.storage.database")
        app = make_app(
            SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"init_command": "SET SESSION innodb_lock_wait_timeout = 1"}}
        )
        hold_row_lock(other_connection, "locked")
        threads, results = in_threads(lambda: Api(app.test_client()).try_register("locked").json)
        # The first attempt waits a second and fails with 1205; the retry gets the row.
        time.sleep(1.6)
        other_connection.rollback()
        threads[0].join()

        assert results[0]["errCode"] == 0
        assert "retrying after MySQL error 1205" in caplog.text

    def test_deadlock_is_retried(self, app, other_connection, caplog):
        """InnoDB's classic: two inserts wait on a third's row; it rolls back; they deadlock."""
        caplog.set_level(logging.INFO, logger="app.storage.database")
        hold_row_lock(other_connection, "contended")
        threads, results = in_threads(
            lambda: Api(app.test_client()).try_register("contended", operation_id="a").json,
            lambda: Api(app.test_client()).try_register("contended", operation_id="b").json,
        )
        wait_for_inserts(other_connection, 2)
        other_connection.rollback()
        for thread in threads:
            thread.join()

        assert sorted(answer["errCode"] for answer in results) == [0, 1102]
        assert "retrying after MySQL error 1213" in caplog.text
        with app.app_context():
            winner = db.session.execute(select(User.operation_id).where(User.user_id == "contended")).scalar_one()
        assert winner in {"a", "b"}
