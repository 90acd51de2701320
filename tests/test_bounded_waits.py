"""Every wait on the database ends well before gunicorn's worker timeout, as 503/802 (issue 12)."""

import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.storage.database import SQLITE_BUSY_TIMEOUT_SECONDS
from tests.helpers import SECRET, TEST_DATABASE_URL, base_config, is_mysql, lock_file_held
from tests.http.tcp_proxy import TcpProxy

GUNICORN_WORKER_TIMEOUT_SECONDS = 30


def register_body(user_id: str) -> dict:
    return {"secret": SECRET, "platform": 1, "userID": user_id, "nickname": "n", "operationID": "op-wait"}


@pytest.fixture
def sqlite_app(tmp_path, monkeypatch):
    """An app on a SQLite file of its own, with a one-second busy timeout."""
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path / "instance"))
    path = tmp_path / "openim.db"
    app = create_app(
        {**base_config(f"sqlite:///{path}"), "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 1}}}
    )
    with app.app_context():
        db.create_all()
    yield app, path
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_sqlite_waits_end_before_the_worker_timeout():
    # The lock file's wait, then (a writer outside the service holding SQLite's lock) SQLite's own.
    assert 2 * SQLITE_BUSY_TIMEOUT_SECONDS < GUNICORN_WORKER_TIMEOUT_SECONDS


def test_a_stuck_sqlite_writer_costs_a_request_its_busy_timeout_then_802(sqlite_app):
    app, path = sqlite_app
    client = app.test_client()
    with lock_file_held(path):
        started = time.monotonic()
        answer = client.post("/auth/user_register", json=register_body("waiting"))
        waited = time.monotonic() - started
        assert (answer.status_code, answer.json) == (503, {"errCode": 802, "errMsg": "db failed", "data": None})
        assert 0.9 <= waited < 5, waited
        # Reads need no lock: the service still answers them.
        check = {"secret": SECRET, "operationID": "op-read", "checkUserIDList": ["waiting"]}
        assert client.post("/user/account_check", json=check).json["errCode"] == 0
    assert client.post("/auth/user_register", json=register_body("waiting")).json["errCode"] == 0


# --- MySQL/MariaDB: a server that goes silent ----------------------------------

needs_mysql = pytest.mark.skipif(not is_mysql(TEST_DATABASE_URL), reason="needs TEST_DATABASE_URL (MySQL/MariaDB)")
# The ping of a pooled connection (2 s), then a new connection's handshake (2 s):
# about 4 s; before, 10 s each. Generous for a loaded machine, far below 20.
SILENT_SERVER_ANSWER_WITHIN_SECONDS = 8


@pytest.fixture
def proxied_app(migrated_database, tmp_path, monkeypatch):
    """An app on the test database through a TCP proxy that the test can stall, and the proxy."""
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path / "instance"))
    url = make_url(migrated_database)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 3306))
    port = proxy.start()
    app = create_app(base_config(url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)))
    yield app, proxy
    proxy.close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@needs_mysql
def test_a_silent_mysql_server_costs_a_request_about_four_seconds_not_twenty(proxied_app):
    app, proxy = proxied_app
    client = app.test_client()
    user_id = f"silent-{uuid.uuid4().hex[:12]}"
    assert client.post("/auth/user_register", json=register_body(user_id)).json["errCode"] == 0

    proxy.stall()
    for _ in range(2):  # the pooled connection's ping, then only a new connection's handshake
        started = time.monotonic()
        answer = client.post("/auth/user_token", json={**register_body(user_id), "nickname": None})
        waited = time.monotonic() - started
        assert (answer.status_code, answer.json["errCode"]) == (503, 802)
        assert waited < SILENT_SERVER_ANSWER_WITHIN_SECONDS, waited

    proxy.restore()
    deadline = time.monotonic() + 10
    while client.post("/auth/user_token", json={**register_body(user_id), "nickname": None}).json["errCode"] != 0:
        assert time.monotonic() < deadline, "no recovery"
        time.sleep(0.1)


@needs_mysql
def test_statements_keep_their_longer_timeout(proxied_app):
    """A statement may wait longer than a ping: row locks (3 s), a Galera node's eviction (~6 s)."""
    app, _ = proxied_app
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT SLEEP(3)")).scalar_one() == 0
