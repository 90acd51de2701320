"""Through real gunicorn, no request can split a line of its log, the access log included (issue 12)."""

import re
import uuid

import pytest

from tests.http.server import Servers, connect, log_since, log_size, read_answer

pytestmark = pytest.mark.http

# %0A, %0D, U+0085, U+2028, U+2029, ESC, U+009B, each percent-encoded in the path.
HOSTILE_PATH = "/x%0Aforged%0D%C2%85%E2%80%A8%E2%80%A9%1B%5B31m%C2%9B-"


@pytest.fixture(scope="module")
def server(tmp_path_factory, http_database_url):
    """gunicorn with its access log on (OPENIM_ACCESS_LOG), which is off by default."""
    servers = Servers(tmp_path_factory)
    yield servers.start(http_database_url, workers=2, extra_env={"OPENIM_ACCESS_LOG": "on"})
    servers.stop_all()


def test_a_hostile_path_splits_no_log_line(server):
    marker = uuid.uuid4().hex
    offset = log_size(server)
    with connect(server) as sock:
        sock.sendall(
            f"GET {HOSTILE_PATH}{marker}{'z' * 2000} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        assert read_answer(sock).startswith(b"HTTP/1.1 404")
    server.get("/healthz")  # a request after it, so its log lines are written
    log = log_since(server, offset)
    lines = [line for line in log.splitlines() if marker in line]
    # Python's splitlines breaks on every line boundary any reader might use.
    assert len(lines) == 2, log  # the app's request line and the access log line, each whole
    for line in lines:
        assert re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", line) is None, repr(line)
        assert "forged" in line
        assert len(line) < 1000, len(line)
