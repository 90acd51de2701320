"""GET /healthz on OPENIM_HEALTH_BIND, answered while every worker waits (app/serving/health_listener.py).

Two sync workers, both held by writes waiting for a lock another process
holds: the service's own port queues /healthz behind them, the health port
answers at once, with what the database's state is.
"""

import socket
import threading
import time

import pytest
import requests

from tests.helpers import lock_file_held
from tests.http.server import Server, free_port

pytestmark = pytest.mark.http


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.fixture
def health_server(start_server, tmp_path):
    """gunicorn with two workers on a SQLite file of its own, /healthz also on a health port; its URL."""
    path = tmp_path / "busy.db"
    port = free_port()
    server = start_server(f"sqlite:///{path}", workers=2, extra_env={"OPENIM_HEALTH_BIND": f"127.0.0.1:{port}"})
    return server, path, f"http://127.0.0.1:{port}"


def health(url: str) -> tuple[int, dict]:
    with requests.get(url + "/healthz", timeout=30) as answer:
        return answer.status_code, answer.json()


def test_the_health_port_answers_while_every_worker_waits_on_a_lock(health_server, unique_id):
    server, path, health_url = health_server
    assert health(health_url) == (200, {"errCode": 0, "errMsg": "", "data": {"database": "ok"}})
    with lock_file_held(path):
        writers = [threading.Thread(target=server.register, args=(unique_id(f"busy{n}"),)) for n in range(2)]
        for writer in writers:
            writer.start()
        time.sleep(0.5)  # both workers are inside a write, waiting for the lock (up to 5 s)

        (status, answer), waited = timed(lambda: health(health_url))
        assert (status, answer["errCode"], answer["data"]) == (503, 802, {"database": "unavailable"})
        assert waited < 1.5, waited
        # The service's own port: the check waits for a worker to be free.
        (status, answer), waited = timed(lambda: server.get("/healthz"))
        assert waited > 2, waited
        for writer in writers:
            writer.join()
    assert health(health_url)[0] == 200
    assert "Health check at: http://127.0.0.1:" in server.log_tail(200)


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("POST", "/auth/user_token"), ("POST", "/healthz")])
def test_the_health_port_serves_nothing_else(health_server, method, path):
    _, _, health_url = health_server
    with requests.request(method, health_url + path, json={}, timeout=30) as answer:
        assert answer.status_code == 404


def test_a_health_port_that_is_taken_stops_the_start(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        server = Server(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", 1, {"OPENIM_HEALTH_BIND": bind})
        try:
            with pytest.raises(AssertionError, match="gunicorn exited"):
                server.start()
        finally:
            server.stop()
            server.wait_stopped()
    assert f"OPENIM_HEALTH_BIND {bind}: Address already in use" in server.log_tail()
