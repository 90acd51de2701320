"""The database goes away and comes back: 503/802 quickly, then service again, no restart.

The shared MariaDB is never touched: gunicorn reaches it through a TCP proxy
that the test cuts (connections refused and closed) or stalls (nothing answers).
"""

import json
import time

import pytest
from sqlalchemy.engine import make_url

from tests.http.server import needs_mysql
from tests.http.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.http, needs_mysql]

# "About two seconds", with room for a loaded CI machine.
ANSWER_WITHIN_SECONDS = 3
RECOVER_WITHIN_SECONDS = 10
# More requests than workers, so that every worker's pooled connection is tried.
REQUESTS_PER_PHASE = 8


@pytest.fixture
def database_proxy(migrated_database):
    """A proxy in front of the test database, and the database URL through it."""
    database_url = make_url(migrated_database)
    proxy = TcpProxy((database_url.host or "127.0.0.1", database_url.port or 3306))
    port = proxy.start()
    proxied_url = database_url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    yield proxy, proxied_url
    proxy.close()


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def assert_db_failed_quickly(call) -> None:
    (status, answer), elapsed = timed(call)
    assert (status, answer["errCode"], answer["errMsg"]) == (503, 802, "db failed")
    assert elapsed < ANSWER_WITHIN_SECONDS


def wait_until_serving(server, user_id: str) -> None:
    deadline = time.monotonic() + RECOVER_WITHIN_SECONDS
    while server.user_token(user_id)[1]["errCode"] != 0:
        assert time.monotonic() < deadline, "the service did not recover after the database came back"
        time.sleep(0.1)


def test_unreachable_database_answers_802_quickly_and_recovers_without_restart(start_server, database_proxy, unique_id):
    proxy, proxied_url = database_proxy
    server = start_server(proxied_url, workers=2, upgrade=False)
    prefix = unique_id("fault")
    for i in range(REQUESTS_PER_PHASE):
        status, answer = server.register(f"{prefix}-before-{i}")
        assert (status, answer["errCode"]) == (200, 0), answer

    proxy.cut()
    for i in range(REQUESTS_PER_PHASE):
        assert_db_failed_quickly(lambda i=i: server.user_token(f"{prefix}-before-{i}"))
        assert_db_failed_quickly(lambda i=i: server.register(f"{prefix}-during-{i}"))

    proxy.restore()
    wait_until_serving(server, f"{prefix}-before-0")
    for i in range(REQUESTS_PER_PHASE):
        status, answer = server.register(f"{prefix}-after-{i}")
        assert (status, answer["errCode"]) == (200, 0), answer
        assert server.user_token(f"{prefix}-before-{i}")[1]["errCode"] == 0
    assert server.process.poll() is None


def test_database_down_at_start_answers_802_then_serves(start_server, database_proxy, unique_id):
    proxy, proxied_url = database_proxy
    proxy.cut()
    server = start_server(proxied_url, workers=1, upgrade=False)
    assert_db_failed_quickly(lambda: server.register(unique_id("late")))

    proxy.restore()
    status, answer = server.register(unique_id("late"))
    assert (status, answer["errCode"]) == (200, 0), answer


def test_stalled_database_answers_802_within_the_io_timeout(start_server, database_proxy, unique_id):
    """A server that stops answering costs one I/O timeout, never a hung or killed worker.

    The timeout is shortened to half a second here (the default is ten) through
    the same SQLALCHEMY_ENGINE_OPTIONS a deployment would use.
    """
    proxy, proxied_url = database_proxy
    half_a_second = json.dumps({"connect_args": {"read_timeout": 0.5, "write_timeout": 0.5}})
    server = start_server(
        proxied_url, workers=1, upgrade=False, extra_env={"FLASK_SQLALCHEMY_ENGINE_OPTIONS": half_a_second}
    )
    user_id = unique_id("stall")
    assert server.register(user_id)[1]["errCode"] == 0

    proxy.stall()
    # The pooled connection's ping times out, then so does a new connection's handshake.
    assert_db_failed_quickly(lambda: server.user_token(user_id))

    proxy.restore()
    wait_until_serving(server, user_id)
    assert server.process.poll() is None


def test_stalled_database_with_the_default_timeouts_answers_802_in_seconds(start_server, database_proxy, unique_id):
    """The pooled connection's ping and a new connection's handshake give up after 2 s each (was 10 s each)."""
    proxy, proxied_url = database_proxy
    server = start_server(proxied_url, workers=1, upgrade=False)
    user_id = unique_id("stall-default")
    assert server.register(user_id)[1]["errCode"] == 0

    proxy.stall()
    (status, answer), elapsed = timed(lambda: server.user_token(user_id))
    assert (status, answer["errCode"], answer["errMsg"]) == (503, 802, "db failed")
    assert elapsed < 8, elapsed  # about 4 s; 20 s before

    proxy.restore()
    wait_until_serving(server, user_id)
