"""A chunked body that breaks HTTP's chunked coding is bad input: 400, not 500 and a traceback (issue 12).

gunicorn's sync worker decodes the chunks while the app reads the body, so a
bad chunk surfaces inside the view as gunicorn's own parse error.
"""

import json
import uuid

import pytest

from tests.helpers import SECRET
from tests.http.server import connect, log_since, log_size, read_answer
from tests.http.server import status_and_answer as parse

pytestmark = pytest.mark.http


def body() -> bytes:
    return json.dumps(
        {"secret": SECRET, "platform": 1, "userID": f"chunk-{uuid.uuid4().hex[:12]}", "operationID": "op-chunk"}
    ).encode()


BAD_CHUNKINGS = {
    "size not hex": lambda data: b"zz\r\n" + data + b"\r\n0\r\n\r\n",
    "size with a sign": lambda data: b"-1\r\n" + data + b"\r\n0\r\n\r\n",
    "chunk without its CRLF": lambda data: b"%x\r\n" % len(data) + data + b"XX0\r\n\r\n",
    "bad trailer": lambda data: b"%x\r\n" % len(data) + data + b"\r\n0\r\nno colon here\r\n\r\n",
    "trailer with a bare LF": lambda data: b"%x\r\n" % len(data) + data + b"\r\n0\r\nX-T: 1\n\r\n",
}


@pytest.mark.parametrize("chunking", list(BAD_CHUNKINGS))
def test_bad_chunking_answers_the_400_envelope_without_a_traceback(server, chunking):
    offset = log_size(server)
    head = (
        f"POST /auth/user_token HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    with connect(server) as sock:
        sock.sendall(head + BAD_CHUNKINGS[chunking](body()))
        raw = read_answer(sock)
    status, answer = parse(raw)
    assert (status, answer["errCode"], answer["data"]) == (400, 400, None), raw
    assert "chunk" in answer["errMsg"] or "trailer" in answer["errMsg"], answer
    log = log_since(server, offset)
    assert "Traceback" not in log and " 500 " not in log, log


def test_good_chunking_still_reads_the_whole_body(server):
    data = body()
    head = (
        f"POST /auth/user_token HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + 7]), data[i : i + 7]) for i in range(0, len(data), 7))
    with connect(server) as sock:
        sock.sendall(head + chunked + b"0\r\nX-Trailer: fine\r\n\r\n")
        status, answer = parse(read_answer(sock))
    assert (status, answer["errCode"]) == (404, 1101), answer
