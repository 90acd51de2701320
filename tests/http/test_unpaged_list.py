"""An unpaged get_all_users_uid to a client too slow for the worker timeout: never a cut list that looks whole.

The answer carries a Content-Length, so a client that gets fewer bytes knows
it was cut, also over HTTP/1.0 (where a streamed answer simply ended when the
killed worker closed the connection, as a whole one does). Above
OPENIM_UNPAGED_LIST_LIMIT the service asks for paging instead (tests in
tests/test_user_directory.py). The server here allows 200 000 users (about
6.6 MB, more than the kernel's socket buffers hold) and kills workers after 3 s.
"""

import json
import re
import socket
import time

import pytest

from app import create_app
from app.admin.importer import store_batch
from app.extensions import db
from tests.helpers import SECRET, base_config
from tests.http.server import Servers, log_since, log_size

pytestmark = pytest.mark.http

USERS = 200_000
WORKER_TIMEOUT_SECONDS = 3


@pytest.fixture(scope="module")
def crowded_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crowded")
    database_url = f"sqlite:///{folder / 'crowded.db'}"
    servers = Servers(tmp_path_factory)
    server = servers.start(
        database_url,
        workers=1,
        extra_env={
            "FLASK_OPENIM_UNPAGED_LIST_LIMIT": str(USERS),
            "GUNICORN_CMD_ARGS": f"--timeout {WORKER_TIMEOUT_SECONDS}",
        },
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(folder / "instance"))
        app = create_app(base_config(database_url))
        with app.app_context():
            for start in range(0, USERS, 20_000):
                batch = range(start, start + 20_000)
                store_batch([{"user_id": f"crowd-{n:07}-{'x' * 20}", "nickname": "n"} for n in batch])
            db.engine.dispose()
    yield server
    servers.stop_all()


def slow_post(server, body: bytes, pause_seconds: float, receive_buffer: int | None = None) -> tuple[bytes, bytes]:
    """POST over HTTP/1.0; read the head, pause, then read to the end."""
    with socket.socket() as sock:
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(30)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(
            f"POST /user/get_all_users_uid HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(1024)
            if not chunk:
                break
            received += chunk
        time.sleep(pause_seconds)  # the slow client: the worker stays blocked in send past its timeout
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    head, _, rest = received.partition(b"\r\n\r\n")
    return head, rest


def test_a_cut_answer_is_shorter_than_its_content_length(crowded_server):
    offset = log_size(crowded_server)
    body = json.dumps({"secret": SECRET, "operationID": "op-slow-list"}).encode()
    head, rest = slow_post(crowded_server, body, pause_seconds=WORKER_TIMEOUT_SECONDS * 2.5, receive_buffer=4096)
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head
    length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
    assert length, f"no Content-Length: a cut answer would look whole\n{head.decode()}"
    assert len(rest) < int(length.group(1)), "the worker was not cut off: the test proves nothing"
    assert "WORKER TIMEOUT" in log_since(crowded_server, offset)


def test_a_patient_client_gets_the_whole_list(crowded_server):
    body = json.dumps({"secret": SECRET, "operationID": "op-whole-list"}).encode()
    head, rest = slow_post(crowded_server, body, pause_seconds=0)
    length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
    assert length and len(rest) == int(length.group(1))
    answer = json.loads(rest)
    assert answer["errCode"] == 0 and len(answer["data"]) == USERS
