"""A gunicorn worker killed (SIGKILL) between a token's database write and its Redis write.

Whichever the moment (tests/http/redis_kill_app.py), no token is left that
OpenIM's gateway lets in and this service refuses: every field of the user's
hashes that the gateway accepts, parse_token accepts too. And the service,
its worker replaced, goes on issuing tokens the gateway accepts.
"""

import signal
import subprocess
from collections.abc import Iterator

import pytest
import requests

from app.storage.openim_redis import user_keys
from tests.http.server import PROJECT_ROOT, VENV_BIN, Server, Servers
from tests.openim_gateway import ACCEPTED, KICKED, Gateway

pytestmark = pytest.mark.http


@pytest.fixture(scope="module")
def killing_server(tmp_path_factory, http_database_url, redis_standalone) -> Iterator[Server]:
    servers = Servers(tmp_path_factory)
    env = {"FLASK_OPENIM_REDIS_URL": redis_standalone.url}
    yield servers.start(http_database_url, workers=2, extra_env=env, wsgi_app="tests.http.redis_kill_app:app")
    servers.stop_all()


@pytest.fixture
def gateway(redis_server):
    with redis_server.client() as client:
        yield Gateway(client)


def killed(call) -> None:
    with pytest.raises(requests.ConnectionError):
        call()


def assert_the_gateway_lets_in_nothing_we_refuse(server: Server, gateway: Gateway, user_id: str) -> None:
    for key in user_keys(user_id):
        for field in gateway.client.hgetall(key):
            token = field.decode()
            if gateway.parse(token) == ACCEPTED:
                assert server.parse_token(token)[1]["errCode"] == 0, key


def token_of(answer: tuple[int, dict]) -> str:
    status, body = answer
    assert (status, body["errCode"]) == (200, 0), body
    return body["data"]["token"]


@pytest.mark.parametrize("moment", ["die-before-field-", "die-after-field-"])
def test_an_issue_killed_between_its_writes(killing_server, gateway, unique_id, moment):
    user_id = unique_id(moment)
    killed(lambda: killing_server.register(user_id))
    fields = gateway.client.hgetall(user_keys(user_id)[0])
    # Before the field: none. After it: a field 0, of a token nobody was handed.
    assert list(fields.values()) == ([] if moment == "die-before-field-" else [b"0"])
    assert_the_gateway_lets_in_nothing_we_refuse(killing_server, gateway, user_id)
    killed(lambda: killing_server.user_token(user_id, platform=2))
    assert_the_gateway_lets_in_nothing_we_refuse(killing_server, gateway, user_id)


def test_a_kick_killed_between_redis_and_the_records(killing_server, gateway, unique_id):
    user_id = unique_id("die-before-kick-records-")
    killing_server.register(user_id)
    token = token_of(killing_server.user_token(user_id, platform=3))
    killed(lambda: killing_server.force_logout(user_id, platform=3))
    assert gateway.parse(token) == KICKED
    assert killing_server.parse_token(token)[1]["errCode"] == 706
    assert_the_gateway_lets_in_nothing_we_refuse(killing_server, gateway, user_id)


def test_a_delete_killed_between_redis_and_the_records(killing_server, gateway, unique_id):
    user_id = unique_id("die-before-delete-records-")
    token = token_of(killing_server.register(user_id))
    assert gateway.parse(token) == ACCEPTED
    command = [str(VENV_BIN / "flask"), "--app", "tests.http.redis_kill_app:app", "users", "delete", user_id, "--yes"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=killing_server.env, capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert gateway.parse(token) != ACCEPTED
    assert_the_gateway_lets_in_nothing_we_refuse(killing_server, gateway, user_id)


def test_the_service_goes_on_after_the_kills(killing_server, gateway, unique_id):
    user_id = unique_id("after")
    assert gateway.parse(token_of(killing_server.register(user_id))) == ACCEPTED
