"""Every wait on the database ends well before gunicorn's worker timeout, as 503/802 (issue 12)."""
import time

import pytest

from app import create_app
from app.database import SQLITE_BUSY_TIMEOUT_SECONDS
from app.extensions import db
from tests.conftest import SECRET, base_config
from tests.test_sqlite_writes import lock_file_held

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
        assert client.post("/auth/user_token", json={**register_body("waiting"), "nickname": None}).json[
            "errCode"
        ] == 1101
    assert client.post("/auth/user_register", json=register_body("waiting")).json["errCode"] == 0
