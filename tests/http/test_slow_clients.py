"""Slow and truncated request bodies through gunicorn, on raw sockets (issue 6).

gunicorn's sync workers serve one connection each: a client that trickles its
body holds one worker for as long as it takes, and no other. gunicorn's
`timeout` bounds that: a worker silent for longer is killed by the master
and replaced, so a client trickling for longer than the timeout gets its
connection cut, without an answer (deployments that face slow clients put a
buffering proxy such as nginx in front, as gunicorn's docs advise). These
tests run a server with a 3-second timeout to see both sides of it quickly.
(gunicorn logs the killed worker's stack, "WORKER TIMEOUT" then "Error
handling request": that traceback is gunicorn's, not the app's.)
"""

import json
import re
import socket
import threading
import time
import uuid

import pytest

from tests.helpers import register_body
from tests.http.server import Servers, connect, log_since, log_size, read_answer, status_and_answer

pytestmark = pytest.mark.http

TIMEOUT_SECONDS = 3
WORKERS = 2
SOCKET_TIMEOUT_SECONDS = 15


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory, http_database_url):
    servers = Servers(tmp_path_factory)
    yield servers.start(
        http_database_url, workers=WORKERS, extra_env={"GUNICORN_CMD_ARGS": f"--timeout {TIMEOUT_SECONDS}"}
    )
    servers.stop_all()


def raw_register_body(user_id: str) -> bytes:
    return json.dumps(register_body(user_id, operation_id=uuid.uuid4().hex)).encode()


def head(server, content_length: int) -> bytes:
    return (
        f"POST /auth/user_register HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n"
    ).encode()


def assert_serving(server, label: str) -> None:
    started = time.monotonic()
    status, answer = server.register(f"{label}-{uuid.uuid4().hex[:12]}")
    assert (status, answer["errCode"]) == (200, 0), answer
    assert time.monotonic() - started < 5, "a plain registration waited"


def test_a_truncated_body_then_close_costs_no_500_and_no_traceback(slow_server):
    offset = log_size(slow_server)
    body = raw_register_body(f"cut-{uuid.uuid4().hex[:12]}")
    for _ in range(WORKERS + 1):  # every worker meets one
        with connect(slow_server) as sock:
            sock.sendall(head(slow_server, 100) + body[:10])
    assert_serving(slow_server, "after-cut")
    time.sleep(0.2)  # the access log line of the last cut request
    log = log_since(slow_server, offset)
    assert "Traceback" not in log and "[ERROR]" not in log and "ERROR in" not in log, log
    assert not re.search(r'"POST /auth/user_register" 5\d\d ', log), log


def test_a_truncated_body_then_half_close_answers_400(slow_server):
    """The client says it is done after 10 of its 100 bytes: the body is not JSON, 400, not 500."""
    offset = log_size(slow_server)
    with connect(slow_server) as sock:
        sock.sendall(head(slow_server, 100) + raw_register_body("half")[:10])
        sock.shutdown(socket.SHUT_WR)
        raw = read_answer(sock)
    if raw:
        status, answer = status_and_answer(raw)
        assert (status, answer["errCode"]) == (400, 400), raw
    # (gunicorn may also just close the connection on a body cut short: no answer, no 500.)
    assert_serving(slow_server, "after-half")
    log = log_since(slow_server, offset)
    assert "Traceback" not in log and " 500 " not in log, log


def test_a_slow_body_is_answered_and_holds_one_worker_only(slow_server):
    user_id = f"slow-{uuid.uuid4().hex[:12]}"
    body = raw_register_body(user_id)
    pieces = [body[i : i + 8] for i in range(0, len(body), 8)]
    trickle_seconds = TIMEOUT_SECONDS / 2  # well within gunicorn's timeout
    delay = trickle_seconds / len(pieces)
    outcome = {}

    def slow_client() -> None:
        with connect(slow_server) as sock:
            sock.sendall(head(slow_server, len(body)))
            for piece in pieces:
                time.sleep(delay)
                sock.sendall(piece)
            outcome["raw"] = read_answer(sock)

    thread = threading.Thread(target=slow_client)
    started = time.monotonic()
    thread.start()
    beside = 0
    try:
        # Meanwhile the other worker serves everyone else, without waiting for the slow one.
        while thread.is_alive() and time.monotonic() - started < SOCKET_TIMEOUT_SECONDS:
            assert_serving(slow_server, "beside-slow")
            if "raw" not in outcome:
                beside += 1
            time.sleep(0.02)
    finally:
        thread.join(SOCKET_TIMEOUT_SECONDS)
    assert not thread.is_alive()
    assert time.monotonic() - started >= trickle_seconds
    status, answer = status_and_answer(outcome["raw"])
    assert (status, answer["errCode"], answer["data"]["userID"]) == (200, 0, user_id), answer
    assert beside >= 2, f"only {beside} registrations were served while the slow client was sending"


def test_a_client_slower_than_gunicorns_timeout_is_cut_off_and_the_worker_replaced(slow_server):
    """Documents gunicorn's behaviour: past `timeout`, the worker is killed; the others serve on."""
    offset = log_size(slow_server)
    body = raw_register_body(f"slowloris-{uuid.uuid4().hex[:12]}")
    started = time.monotonic()
    with connect(slow_server) as sock:
        sock.sendall(head(slow_server, len(body)))
        cut = False
        for piece in body[:-1]:  # one byte per 0.1 s: far slower than the timeout allows
            if time.monotonic() - started > TIMEOUT_SECONDS * 3:
                break
            try:
                sock.sendall(bytes([piece]))
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            time.sleep(0.1)
    elapsed = time.monotonic() - started
    # (Sending stops working once the worker's death has closed the connection.)
    assert cut, f"still connected after {elapsed:.1f}s"
    assert_serving(slow_server, "after-slowloris")
    log = log_since(slow_server, offset)
    assert "WORKER TIMEOUT" in log, log
