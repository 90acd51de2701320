"""GET /healthz: 200 when the database answers SELECT 1, 503/802 within a second when it does not."""

import logging
import socket
import time

import pytest
from sqlalchemy.exc import OperationalError

from app.web import health

ANSWER_WITHIN_SECONDS = 1.0


def timed_get(client, path: str):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections (the kernel does) and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    # Closing resets the connections still waiting, which ends any probe stuck on them.
    listener.close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def assert_unavailable(response, elapsed: float):
    assert response.status_code == 503
    assert response.json == {"errCode": 802, "errMsg": "db failed", "data": {"database": "unavailable"}}
    assert elapsed < ANSWER_WITHIN_SECONDS


def test_healthy_database_is_200(client):
    response, elapsed = timed_get(client, "/healthz")
    assert response.status_code == 200
    assert response.json == {"errCode": 0, "errMsg": "", "data": {"database": "ok"}}
    assert elapsed < ANSWER_WITHIN_SECONDS


def test_needs_no_secret_and_ignores_a_body(client):
    assert client.get("/healthz", data=b"\xff not json").json["errCode"] == 0


def test_unopenable_database_is_503(app_on, tmp_path):
    app = app_on(f"sqlite:///{tmp_path / 'no-such-folder' / 'openim.db'}")
    assert_unavailable(*timed_get(app.test_client(), "/healthz"))


def test_refused_connection_is_503(app_on, closed_port):
    app = app_on(f"mysql+pymysql://root@127.0.0.1:{closed_port}/openim")
    assert_unavailable(*timed_get(app.test_client(), "/healthz"))


def test_silent_database_is_503_within_a_second(app_on, silent_server):
    app = app_on(f"mysql+pymysql://root@127.0.0.1:{silent_server}/openim")
    assert_unavailable(*timed_get(app.test_client(), "/healthz"))


def test_polling_a_silent_database_runs_one_probe_at_a_time(app_on, silent_server, monkeypatch):
    started = []
    run_probe = health.run_probe
    monkeypatch.setattr(health, "run_probe", lambda *args: started.append(args) or run_probe(*args))
    client = app_on(f"mysql+pymysql://root@127.0.0.1:{silent_server}/openim").test_client()
    for _ in range(2):
        assert client.get("/healthz").status_code == 503
    assert len(started) == 1


def test_recovers_when_the_database_comes_back(app, client, monkeypatch):
    def failing_probe(engine):
        raise OperationalError("SELECT 1", {}, ConnectionError("down"))

    monkeypatch.setattr(health, "probe", failing_probe)
    assert client.get("/healthz").status_code == 503
    monkeypatch.undo()
    assert client.get("/healthz").status_code == 200


def test_failure_log_names_no_credentials(app_on, closed_port, caplog):
    app = app_on(f"mysql+pymysql://root:hunter2-password@127.0.0.1:{closed_port}/openim")
    with caplog.at_level(logging.INFO):
        assert app.test_client().get("/healthz").status_code == 503
    assert "health check" in caplog.text
    assert "hunter2" not in caplog.text
