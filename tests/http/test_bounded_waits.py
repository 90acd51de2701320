"""A stuck SQLite writer through real gunicorn: 503/802 within the 5-s lock-wait budget (issue 12).

Another process holds the database's lock file, as a stuck worker or an
admin's long transaction would. Before the fix the workers waited on it
forever, until gunicorn killed them at 30 s (a 500 with an empty body).
"""

import time

import pytest

from app.storage.database import LOCK_WAIT_BUDGET_SECONDS
from tests.helpers import lock_file_held
from tests.http.server import log_since, log_size

pytestmark = pytest.mark.http


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_stuck_sqlite_writer_answers_802_before_the_worker_timeout(start_server, tmp_path, unique_id):
    path = tmp_path / "stuck.db"
    server = start_server(f"sqlite:///{path}", workers=2)
    assert server.register(unique_id("before"))[1]["errCode"] == 0
    offset = log_size(server)
    with lock_file_held(path):
        (status, answer), waited = timed(lambda: server.register(unique_id("stuck")))
        assert (status, answer) == (503, {"errCode": 802, "errMsg": "db failed", "data": None})
        # The budget a balancer can count on (before: the 10-s busy timeout).
        assert LOCK_WAIT_BUDGET_SECONDS - 1 <= waited <= LOCK_WAIT_BUDGET_SECONDS + 1, waited

        # /healthz answers within its second, and the log says why.
        (status, answer), waited = timed(lambda: server.get("/healthz"))
        assert (status, answer["errCode"], answer["data"]) == (503, 802, {"database": "unavailable"})
        assert waited < 3, waited
    assert "WORKER TIMEOUT" not in log_since(server, offset)
    assert "health check: the database did not answer" in log_since(server, offset)
    assert server.register(unique_id("after"))[1]["errCode"] == 0
    assert server.process.poll() is None
