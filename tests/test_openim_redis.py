"""OpenIM's token state in Redis (docs/openim-redis.md): what a real gateway reading it lets in, for both dialects.

On a redis-server of the suite's own (tests/redis_servers.py), never a mock:
every issue is accepted by the gateway (tests/openim_gateway.py), every kick
is refused by it, a kick written by the gateway's side is a kick here, and a
Redis that is down costs an issue 503/802 in bounded time, never a token.
"""

import threading
import time

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.jwt_tokens import token_digest
from app.rules import tokens
from app.storage import openim_redis, redis_connections, redis_scripts
from app.storage.models import TokenRecord, TokenStatus
from app.storage.openim_redis import token_key, user_keys
from tests.helpers import SECRET, Api
from tests.openim_gateway import ACCEPTED, KICKED, NOT_EXIST, UNKNOWN, Gateway
from tests.redis_servers import wait_until
from tests.v3_calls import V3_CONFIG, admin_token, call, code, register_users, user_token

LIFETIME = 7 * 24 * 3600
OPERATION = {"operationID": "op-redis"}


def record_status(app, token: str) -> TokenStatus | None:
    with app.app_context():
        query = select(TokenRecord.status).where(TokenRecord.token_hash == token_digest(token))
        return db.session.execute(query).scalar_one_or_none()


class Clock:
    """Real time, moved on by hand: two tokens issued a second apart differ."""

    def __init__(self):
        self.now = int(time.time())

    def __call__(self) -> int:
        return self.now


class V2:
    kicked = 706
    refused = (UNKNOWN,)

    def __init__(self, app):
        self.app, self.api = app, Api(app.test_client())

    def register(self, user_id: str) -> str:
        return self.api.register(user_id)

    def renew(self) -> None:
        """Nothing: v2's calls take the API secret."""

    def try_token(self, user_id: str, platform: int = 1):
        response = self.api.try_user_token(user_id, platform)
        return response.status_code, response.json["errCode"], response.json["data"]

    def token(self, user_id: str, platform: int = 1) -> str:
        return self.api.user_token(user_id, platform)

    def parse_code(self, token: str) -> int:
        return self.api.parse(token).json["errCode"]

    def force_logout(self, user_id: str, platform: int = 1) -> None:
        assert self.api.force_logout(user_id, platform, secret=SECRET).json["errCode"] == 0


class V3:
    kicked = 1506
    refused = (NOT_EXIST,)

    def __init__(self, app):
        self.app, self.client = app, app.test_client()
        self.admin = admin_token(self.client)

    def register(self, user_id: str) -> None:
        assert code(register_users(self.client, self.admin, user_id)) == 0

    def renew(self) -> None:
        """A fresh admin token, after the clock passed the lifetime of the last."""
        self.admin = admin_token(self.client)

    def try_token(self, user_id: str, platform: int = 1):
        response = self.client.post(
            "/v3/auth/get_user_token",
            json={"platformID": platform, "userID": user_id},
            headers={"token": self.admin, **OPERATION},
        )
        return response.status_code, response.json["errCode"], response.json.get("data")

    def token(self, user_id: str, platform: int = 1) -> str:
        return user_token(self.client, self.admin, user_id, platform)

    def parse_code(self, token: str) -> int:
        return self.client.post("/v3/auth/parse_token", json={"token": token}, headers=OPERATION).json["errCode"]

    def force_logout(self, user_id: str, platform: int = 1) -> None:
        body = {"userID": user_id, "platformID": platform}
        assert code(call(self.client, "/auth/force_logout", body, token=self.admin)) == 0


@pytest.fixture(params=[V2, V3], ids=["v2", "v3"])
def dialect(request):
    return request.param


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def redis_app(redis_app, clock):
    """The shared redis_app on this module's clock, which the gateway reads too: a token minted a second
    after the gateway's reading would be one the gateway holds as not yet valid."""
    return lambda where, **overrides: redis_app(where, **{"OPENIM_CLOCK": clock, **overrides})


@pytest.fixture
def gateway(redis_server, clock):
    with redis_server.client() as client:
        yield Gateway(client, now=clock)


@pytest.fixture
def service(redis_app, redis_server, dialect, clock):
    """`service(**settings)`: the dialect's calls on an app that keeps OpenIM's state in the test Redis."""
    return lambda **settings: dialect(redis_app(redis_server.url, OPENIM_CLOCK=clock, **V3_CONFIG, **settings))


def test_an_issued_token_is_accepted_until_its_hash_expires_with_it(service, gateway, redis_server):
    calls = service()
    calls.register("alice")
    token = calls.token("alice", platform=2)
    assert gateway.parse(token) == ACCEPTED
    assert calls.parse_code(token) == 0
    with redis_server.client() as client:
        assert LIFETIME - 5 <= client.ttl(token_key("alice", 2)) <= LIFETIME


def test_a_registration_token_and_the_clis_are_accepted(redis_app, redis_server, gateway):
    app = redis_app(redis_server.url)
    assert gateway.parse(Api(app.test_client()).register("bob")) == ACCEPTED
    result = app.test_cli_runner().invoke(args=["users", "token", "bob", "--platform", "5"])
    assert result.exit_code == 0, result.output
    assert gateway.parse(result.output.strip()) == ACCEPTED


def test_an_admin_token_is_written_too(redis_app, redis_server, gateway):
    client = redis_app(redis_server.url, **V3_CONFIG).test_client()
    assert gateway.v3(admin_token(client)) == ACCEPTED


def test_an_issue_after_redis_forgot_its_scripts_loads_the_script_again(service, redis_server, gateway, clock):
    calls = service()
    calls.register("alice")
    assert gateway.parse(calls.token("alice")) == ACCEPTED
    with redis_server.client() as client:
        client.script_flush()
    clock.now += 1
    assert gateway.parse(calls.token("alice")) == ACCEPTED


def test_the_kept_connections_are_as_many_as_calls_at_once_and_close_with_the_app(redis_server):
    """werkzeug's threaded server starts a thread per request: one after the other, they share one connection."""
    kept, pool = redis_connections.KeptConnections(), redis.ConnectionPool.from_url(redis_server.url)
    with redis_server.client() as admin:
        before = admin.info("clients")["connected_clients"]
        for _ in range(5):
            thread = threading.Thread(target=kept.call, args=(pool, "PING"))
            thread.start()
            thread.join()
        assert len(kept._all) == 1 and admin.info("clients")["connected_clients"] == before + 1
        kept.close()
        wait_until(lambda: admin.info("clients")["connected_clients"] == before, what="the kept connection closed")


def test_a_call_cut_short_leaves_no_reply_for_the_next(redis_server):
    """A signal's exception between the command and its reply: the reply must not answer the next call."""
    kept, pool = redis_connections.KeptConnections(), redis.ConnectionPool.from_url(redis_server.url)
    assert kept.call(pool, "PING") == b"PONG"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    connection = kept._all[0]
    connection.read_response = interrupted
    with pytest.raises(KeyboardInterrupt):
        kept.call(pool, "ECHO", "first")
    del connection.read_response
    assert kept.call(pool, "ECHO", "second") == b"second"
    kept.close()


def test_a_forked_process_makes_its_own_connections(redis_app, redis_server, gateway, clock, monkeypatch):
    """A forked worker must neither write on its parent's socket nor close it."""
    app = redis_app(redis_server.url)
    api = Api(app.test_client())
    assert gateway.parse(api.register("ada")) == ACCEPTED
    kept = openim_redis.of(app)._kept
    parents = list(kept._all)
    real_pid = redis_connections.os.getpid()
    monkeypatch.setattr(redis_connections.os, "getpid", lambda: real_pid + 1)
    clock.now += 1
    assert gateway.parse(api.user_token("ada")) == ACCEPTED
    assert len(kept._all) == 1 and kept._all[0] not in parents
    assert parents and all(connection._sock is not None for connection in parents)  # the parent's, still open
    for connection in parents:
        connection.disconnect()


def test_force_logout_is_refused_by_the_gateway_on_that_platform_only(service, gateway, clock):
    calls = service()
    calls.register("alice")
    first, clock.now = calls.token("alice", 1), clock.now + 1
    second, android = calls.token("alice", 1), calls.token("alice", 2)
    calls.force_logout("alice", 1)
    assert [gateway.parse(first), gateway.parse(second), gateway.parse(android)] == [KICKED, KICKED, ACCEPTED]
    assert [calls.parse_code(first), calls.parse_code(android)] == [calls.kicked, 0]


def test_the_clis_kick_reaches_every_platform(redis_app, redis_server, gateway):
    app = redis_app(redis_server.url)
    api = Api(app.test_client())
    tokens = [api.register("carol", platform=1), api.user_token("carol", 7)]
    assert app.test_cli_runner().invoke(args=["users", "kick", "carol"]).exit_code == 0
    assert [gateway.parse(token) for token in tokens] == [KICKED, KICKED]


@pytest.mark.parametrize("policy", ["single", "kick_same_platform"])
def test_the_multi_login_policys_kicks_are_refused_by_the_gateway(service, gateway, clock, policy):
    calls = service(OPENIM_MULTI_LOGIN=policy)
    calls.register("alice")
    ios, web = calls.token("alice", 1), calls.token("alice", 5)
    assert gateway.parse(ios) == (KICKED if policy == "single" else ACCEPTED)
    clock.now += 1
    newer = calls.token("alice", 1)
    assert gateway.parse(newer) == ACCEPTED
    assert gateway.parse(web) == (KICKED if policy == "single" else ACCEPTED)
    # Kicked either way; under single its field, 2 already, went with the clean-up of this last issue.
    assert gateway.parse(ios) in (KICKED, *calls.refused) and calls.parse_code(ios) == calls.kicked


def test_an_issue_that_kicks_a_token_of_its_own_second_settles_its_field_and_is_accepted(
    redis_app, redis_server, gateway
):
    """v2's and v3's tokens of one user, platform and second differ: the v3 issue kicks the v2 token
    (kick_same_platform), which raises the hash's watermark to its own second, so it settles its field."""
    app = redis_app(redis_server.url, OPENIM_MULTI_LOGIN="kick_same_platform", **V3_CONFIG)
    api, client = Api(app.test_client()), app.test_client()
    v2_token = api.register("kate", platform=2)
    v3_token = user_token(client, admin_token(client), "kate", platform=2)
    with redis_server.client() as redis_client:
        watermark = redis_scripts.watermark_key(token_key("kate", 2), cluster=False)
        assert redis_client.get(watermark) is not None
    assert [gateway.parse(v2_token), gateway.v3(v3_token)] == [KICKED, ACCEPTED]
    assert api.parse_code(v2_token) == 706
    assert record_status(app, v3_token) is TokenStatus.normal  # settled under its record's lock


def test_the_bounds_oldest_is_refused_by_the_gateway(service, gateway, clock):
    calls = service(OPENIM_MAX_TOKENS_PER_PLATFORM=2)
    calls.register("alice")
    issued = []
    for _ in range(3):
        issued.append(calls.token("alice"))
        clock.now += 1
    assert [gateway.parse(token) for token in issued] == [KICKED, ACCEPTED, ACCEPTED]
    assert calls.parse_code(issued[0]) == calls.kicked


def test_a_kick_written_by_openim_is_a_kick_here_and_outlives_its_field(service, gateway, redis_server, clock):
    calls = service()
    calls.register("alice")
    token = calls.token("alice")
    with redis_server.client() as client:
        client.hset(token_key("alice", 1), token, 2)
        assert calls.parse_code(token) == calls.kicked
        clock.now += 1
        calls.token("alice")  # its clean-up removes the field, as OpenIM's CreateToken does
        assert client.hget(token_key("alice", 1), token) is None
    assert calls.parse_code(token) == calls.kicked
    assert gateway.parse(token) in calls.refused


def test_the_clean_up_on_issue_takes_the_fields_no_longer_valid_and_records_their_kicks(
    service, redis_server, clock, monkeypatch
):
    # A week on, the records are past their expiry's grace: a prune drawn by chance
    # (one issue in PRUNE_EVERY) would delete the record this test reads at its end.
    monkeypatch.setattr(tokens, "PRUNE_EVERY", 10**9)
    calls = service(OPENIM_TOKEN_EXPIRE_DAYS=1)
    calls.register("alice")
    calls.token("alice")  # expired by the time of the clean-up
    clock.now += 1
    kicked_by_openim = calls.token("alice")
    key = token_key("alice", 1)
    with redis_server.client() as client:
        client.hset(key, mapping={kicked_by_openim: 2, "not-a-token": 0})
        clock.now += LIFETIME  # the first token has expired
        calls.renew()
        fresh = calls.token("alice")
        assert set(client.hgetall(key)) == {fresh.encode()}
    assert record_status(calls.app, kicked_by_openim) is TokenStatus.kicked  # expired now: 701 before 706


def test_delete_takes_every_hash_of_the_user(redis_app, redis_server, gateway):
    app = redis_app(redis_server.url)
    api = Api(app.test_client())
    tokens = [api.register("dave", platform=1), api.user_token("dave", 2), api.user_token("dave", 9)]
    result = app.test_cli_runner().invoke(args=["users", "delete", "dave", "--yes"])
    assert result.exit_code == 0, result.output
    with redis_server.client() as client:
        assert client.exists(*user_keys("dave")) == 0
    assert {gateway.parse(token) for token in tokens} == {UNKNOWN}


def test_a_kick_between_an_issues_record_and_its_field_is_refused_by_both(service, gateway, clock, monkeypatch):
    calls = service()
    calls.register("alice")
    clock.now += 1  # not the bytes of v2's registration token, whose field is there already
    publish_token = openim_redis.TokenState.publish_token

    def kicked_meanwhile(state, user_id, platform, *token_and_times):
        calls.force_logout(user_id, platform)  # another instance's kick, before this issue writes the field
        return publish_token(state, user_id, platform, *token_and_times)

    monkeypatch.setattr(openim_redis.TokenState, "publish_token", kicked_meanwhile)
    token = calls.token("alice")
    monkeypatch.undo()
    assert gateway.parse(token) == KICKED
    assert calls.parse_code(token) == calls.kicked


@pytest.mark.parametrize("seconds_later", [0, 1], ids=["the-registrations-bytes", "a-later-token"])
def test_a_delete_between_an_issues_record_and_its_field_leaves_no_field(
    redis_app, redis_server, gateway, clock, monkeypatch, seconds_later
):
    app = redis_app(redis_server.url)
    api = Api(app.test_client())
    api.register("erin")
    clock.now += seconds_later
    publish_token = openim_redis.TokenState.publish_token

    def deleted_meanwhile(state, user_id, platform, *token_and_times):
        assert app.test_cli_runner().invoke(args=["users", "delete", user_id, "--yes"]).exit_code == 0
        return publish_token(state, user_id, platform, *token_and_times)

    monkeypatch.setattr(openim_redis.TokenState, "publish_token", deleted_meanwhile)
    response = api.try_user_token("erin")
    assert (response.status_code, response.json["errCode"]) == (404, 1101)
    with redis_server.client() as client:
        assert client.exists(*user_keys("erin")) == 0


def test_an_issue_that_writes_its_field_while_a_kick_reads_the_hash_is_refused_by_both(
    service, gateway, clock, monkeypatch
):
    """The kick's transaction reads the hash, the issue writes its field, the kick writes its 2s: the
    watermark, raised in the kick's read, makes the issue leave its field to its settling, after the kick."""
    calls = service()
    calls.register("alice")
    clock.now += 1
    publish_token, read_hashes = openim_redis.TokenState.publish_token, openim_redis.TokenState._read_hashes
    written_during_the_kick = []

    def issue_during_the_read(state, client, keys, reached):
        read = read_hashes(state, client, keys, reached)
        if reached and pending_issue:
            written_during_the_kick.append(publish_token(*pending_issue.pop()))
        return read

    def kicked_meanwhile(state, *issue):
        pending_issue.append((state, *issue))
        calls.force_logout("alice", 1)
        return written_during_the_kick[0]

    pending_issue = []
    monkeypatch.setattr(openim_redis.TokenState, "_read_hashes", issue_during_the_read)
    monkeypatch.setattr(openim_redis.TokenState, "publish_token", kicked_meanwhile)
    token = calls.token("alice")
    monkeypatch.undo()
    assert [written for written, _ in written_during_the_kick] == [False]
    assert gateway.parse(token) == KICKED
    assert calls.parse_code(token) == calls.kicked


def test_a_token_issued_again_in_the_second_of_its_kick_is_valid_for_both(service, gateway):
    calls = service()
    calls.register("alice")
    token = calls.token("alice", platform=3)
    calls.force_logout("alice", 3)
    assert gateway.parse(token) == KICKED
    assert calls.token("alice", platform=3) == token  # the same second: the same bytes, issued anew
    assert gateway.parse(token) == ACCEPTED
    assert calls.parse_code(token) == 0


def test_a_settling_whose_commit_fails_leaves_the_field_refused(redis_app, redis_server, gateway, monkeypatch):
    """The field written 0 inside the settling's transaction, then the commit fails: it may have been a kick's
    conflict (another Galera node's), so the field goes to 2, and the issue answers 503 with no token."""
    api = Api(redis_app(redis_server.url).test_client())
    token = api.register("ivy", platform=4)
    api.force_logout("ivy", 4, secret=SECRET)
    settle = openim_redis.TokenState.settle

    def written_then_the_commit_fails(state, user_id, platform, token, value, lifetime):
        settle(state, user_id, platform, token, value, lifetime)
        if value == 0:
            raise OperationalError("COMMIT", {}, Exception("the commit failed"))

    monkeypatch.setattr(openim_redis.TokenState, "settle", written_then_the_commit_fails)
    again = api.try_user_token("ivy", 4)  # the same second: the kicked token's bytes, so its field is settled
    assert (again.status_code, again.json["errCode"], again.json["data"]) == (503, 802, None)
    assert gateway.parse(token) == KICKED


def test_after_a_delete_a_watermark_outlives_the_hashes_as_long_as_their_tokens(redis_app, redis_server, clock):
    app = redis_app(redis_server.url)
    api = Api(app.test_client())
    api.register("hank", platform=2)
    assert app.test_cli_runner().invoke(args=["users", "delete", "hank", "--yes"]).exit_code == 0
    with redis_server.client() as client:
        assert client.exists(*user_keys("hank")) == 0
        watermark = redis_scripts.watermark_key(token_key("hank", 2), cluster=False)
        assert int(client.get(watermark)) == clock.now
        assert LIFETIME - 5 <= client.ttl(watermark) <= LIFETIME
        clock.now += 1
        again = api.register("hank", platform=2)  # a token of a later second: written by its issue
        assert client.hget(token_key("hank", 2), again) == b"0"


def test_a_token_issued_before_redis_was_configured_stays_valid_here_only(
    make_app, redis_app, redis_server, gateway, clock
):
    # On the clock the Redis app reads too: minted a second later by the real one, it would not be valid yet (704).
    before = Api(make_app(OPENIM_CLOCK=clock).test_client()).register("frank")
    after = Api(redis_app(redis_server.url).test_client())
    assert after.parse_code(before) == 0
    assert gateway.parse(before) == UNKNOWN


@pytest.mark.parametrize("fault", ["stopped", "silent"])
def test_without_redis_an_issue_fails_in_bounded_time_and_works_again_after(service, redis_server, gateway, fault):
    calls = service()
    calls.register("alice")
    earlier = calls.token("alice")
    redis_server.stop() if fault == "stopped" else redis_server.pause()
    started = time.monotonic()
    status, err_code, data = calls.try_token("alice", 2)
    assert time.monotonic() - started < 5
    assert status == 503 and err_code in (802, 500) and not (data or {}).get("token")
    assert calls.parse_code(earlier) in (802, 500)  # a kick there cannot be ruled out
    redis_server.start() if fault == "stopped" else redis_server.resume()
    assert gateway.parse(calls.token("alice", 2)) == ACCEPTED


def test_a_registration_without_redis_keeps_the_user_and_its_retry_gets_the_token(redis_app, redis_server, gateway):
    """v2's user_register stores the user and issues in one go: with Redis down it answers 503 and no token,
    the user stays, and the AppServer's retry of the same operation gets the token; another operation, 1102."""
    api = Api(redis_app(redis_server.url).test_client())
    redis_server.stop()
    refused = api.try_register("gina", operation_id="op-gina")
    assert refused.status_code == 503 and refused.json["errCode"] == 802 and not refused.json["data"]
    redis_server.start()
    assert api.try_register("gina", operation_id="op-other").json["errCode"] == 1102
    retried = api.register("gina", operation_id="op-gina")
    assert gateway.parse(retried) == ACCEPTED
    assert api.parse_code(retried) == 0


def test_every_changed_key_is_published_on_the_cache_topic(redis_app, redis_server):
    app = redis_app(redis_server.url)
    api = Api(app.test_client())
    with redis_server.client() as client, client.pubsub() as subscriber:
        subscriber.subscribe("DELETE_CACHE_AUTH")
        assert subscriber.get_message(timeout=5)["type"] == "subscribe"
        api.register("gina", platform=3)
        api.force_logout("gina", 3, secret=SECRET)
        assert app.test_cli_runner().invoke(args=["users", "delete", "gina", "--yes"]).exit_code == 0
        published = []
        while message := subscriber.get_message(timeout=1):
            published.append(message["data"].decode())
    key = token_key("gina", 3)
    assert published[:2] == [f'["{key}"]', f'["{key}"]']
    assert key in published[-1] and all(other in published[-1] for other in user_keys("gina"))


def test_an_empty_topic_publishes_nothing(redis_app, redis_server):
    app = redis_app(redis_server.url, OPENIM_REDIS_CACHE_TOPIC="")
    with redis_server.client() as client, client.pubsub() as subscriber:
        subscriber.psubscribe("*")
        assert subscriber.get_message(timeout=5)["type"] == "psubscribe"
        Api(app.test_client()).register("hank")
        assert subscriber.get_message(timeout=0.5) is None


def test_healthz_reports_redis(redis_app, redis_server):
    client = redis_app(redis_server.url).test_client()
    assert client.get("/healthz").json["data"] == {"database": "ok", "redis": "ok"}
    redis_server.stop()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["data"]["redis"] == "unavailable"


def test_a_failure_is_counted(redis_app, redis_server):
    from app.metrics import counters

    api = Api(redis_app(redis_server.url).test_client())
    api.register("ivan")
    failures = counters()["redis_failures"].labels("issue")
    before = failures._value.get()
    redis_server.stop()
    assert api.try_user_token("ivan").status_code == 503
    assert failures._value.get() == before + 1


def test_a_redis_user_with_only_the_documented_commands_suffices(redis_app, redis_server, gateway, clock):
    """docs/openim-redis.md lists what an ACL-restricted Redis user needs: issue, check, kick, clean-up, delete."""
    documented = ["evalsha", "script|load", "hgetall", "hget", "hset", "hdel", "hexists", "expire", "ttl", "del"]
    documented += ["get", "set", "publish", "ping"]
    with redis_server.client() as admin:
        admin.script_flush()  # so that the first issue loads the script as this user
        admin.acl_setuser(
            "openim-auth",
            enabled=True,
            passwords=["+auth-pass"],
            categories=["-@all"],
            commands=[f"+{command}" for command in documented],
            keys=["UID_PID_TOKEN_STATUS:*"],
            channels=["DELETE_CACHE_AUTH"],
        )
    try:
        app = redis_app(f"redis://openim-auth:auth-pass@127.0.0.1:{redis_server.port}/0")
        api = Api(app.test_client())
        first = api.register("jane")
        assert gateway.parse(first) == ACCEPTED and api.parse_code(first) == 0
        api.force_logout("jane", 1, secret=SECRET)
        assert gateway.parse(first) == KICKED
        clock.now += 1
        second = api.user_token("jane")  # cleans the kicked field up
        assert gateway.parse(second) == ACCEPTED and gateway.client.hexists(token_key("jane", 1), first) == 0
        assert app.test_client().get("/healthz").json["data"]["redis"] == "ok"
        assert app.test_cli_runner().invoke(args=["users", "delete", "jane", "--yes"]).exit_code == 0
        assert gateway.client.exists(*user_keys("jane")) == 0
    finally:
        with redis_server.client() as admin:
            admin.acl_deluser("openim-auth")
