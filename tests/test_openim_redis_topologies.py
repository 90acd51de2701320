"""OpenIM's token state on a real Redis Cluster and a real Sentinel setup, written by two instances of the service.

The same gateway checks as tests/test_openim_redis.py, across two apps on one
database. On the cluster, a user's hashes of different platforms lie in
different slots (OpenIM's keys have no hash tags), so every multi-key step
goes key by key.
"""

import pytest
from redis.crc import key_slot

from app.storage import openim_redis
from app.storage.openim_redis import token_key, user_keys
from app.storage.redis_scripts import watermark_key
from tests.helpers import SECRET, Api
from tests.openim_gateway import ACCEPTED, KICKED, NOT_EXIST, UNKNOWN, Gateway
from tests.redis_servers import RedisCluster, RedisSentinel, needs_redis
from tests.v3_calls import V3_CONFIG, admin_token, call, code, register_users, user_token

pytestmark = needs_redis


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    topology = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield topology.start()
    finally:
        topology.stop()


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    topology = RedisSentinel(tmp_path_factory.mktemp("sentinel"))
    try:
        yield topology.start()
    finally:
        topology.stop()


@pytest.fixture(params=["cluster", "sentinel"])
def topology(request):
    if request.param == "cluster":
        topology = request.getfixturevalue("cluster")
        return topology, {"OPENIM_REDIS_URL": topology.url, "OPENIM_REDIS_MODE": "cluster"}
    topology = request.getfixturevalue("sentinel")
    return topology, topology.settings()


@pytest.fixture
def gateway(topology):
    with topology[0].client() as client:
        client.flushall() if hasattr(client, "connection_pool") else client.flushall(target_nodes="primaries")
        yield Gateway(client)


def test_two_instances_keep_the_state_the_gateway_reads(topology, gateway, redis_app):
    settings = topology[1]
    one, other = (redis_app(settings, **V3_CONFIG) for _ in range(2))
    api_one, api_other = Api(one.test_client()), Api(other.test_client())
    if settings["OPENIM_REDIS_MODE"] == "cluster":
        assert len({gateway.client.keyslot(key) for key in user_keys("alice")}) > 1

    ios = api_one.register("alice", platform=1)
    android = api_other.user_token("alice", platform=2)
    assert [gateway.parse(ios), gateway.parse(android)] == [ACCEPTED, ACCEPTED]

    assert api_other.force_logout("alice", 1, secret=SECRET).json["errCode"] == 0
    assert [gateway.parse(ios), gateway.parse(android)] == [KICKED, ACCEPTED]
    assert api_one.parse_code(ios) == 706

    gateway.client.hset(token_key("alice", 2), android, 2)  # OpenIM's own kick
    assert [api_one.parse_code(android), api_other.parse_code(android)] == [706, 706]

    v3_one, v3_other = one.test_client(), other.test_client()
    admin = admin_token(v3_one)
    assert code(register_users(v3_one, admin, "bob")) == 0
    web = user_token(v3_one, admin, "bob", platform=5)
    assert gateway.parse(web) == ACCEPTED
    logout = {"userID": "bob", "platformID": 5}
    assert code(call(v3_other, "/auth/force_logout", logout, token=admin_token(v3_other))) == 0
    assert gateway.parse(web) == KICKED
    assert code(call(v3_one, "/auth/parse_token", {"token": web})) == 1506

    result = one.test_cli_runner().invoke(args=["users", "delete", "alice", "--yes"])
    assert result.exit_code == 0, result.output
    assert sum(gateway.client.exists(key) for key in user_keys("alice")) == 0
    assert {gateway.parse(ios), gateway.parse(android)} == {UNKNOWN}
    assert gateway.v3(user_token(v3_other, admin, "bob", platform=11)) == ACCEPTED
    assert gateway.v3(web) in (KICKED, NOT_EXIST)


def test_the_cluster_publishes_every_changed_key(cluster, redis_app):
    app = redis_app({"OPENIM_REDIS_URL": cluster.url, "OPENIM_REDIS_MODE": "cluster"})
    with cluster.nodes[2].client() as client, client.pubsub() as subscriber:
        subscriber.subscribe("DELETE_CACHE_AUTH")
        assert subscriber.get_message(timeout=5)["type"] == "subscribe"
        Api(app.test_client()).register("carol", platform=4)
        message = subscriber.get_message(timeout=5)
    assert message["data"].decode() == f'["{token_key("carol", 4)}"]'


@pytest.mark.parametrize("user_id", ["plain", "a{b}c", "a}b", "{}x"])
def test_a_watermark_lies_in_its_hashs_slot_or_there_is_none(user_id):
    key = token_key(user_id, 1)
    watermark = watermark_key(key, cluster=True)
    if "}" in user_id and "{b}" not in user_id:
        assert watermark is None  # every issue of this hash is settled
    else:
        assert key_slot(watermark.encode()) == key_slot(key.encode()) and watermark != key


@pytest.mark.parametrize("user_id", ["plain", "a{b}c", "a}b"])
def test_on_the_cluster_a_kick_between_an_issues_record_and_its_field_is_refused_by_both(
    cluster, redis_app, monkeypatch, user_id
):
    app = redis_app({"OPENIM_REDIS_URL": cluster.url, "OPENIM_REDIS_MODE": "cluster"})
    api = Api(app.test_client())
    api.register(user_id, platform=1)
    assert api.force_logout(user_id, 2, secret=SECRET).json["errCode"] == 0  # a watermark for platform 2, if any
    publish_token = openim_redis.TokenState.publish_token

    def kicked_meanwhile(state, user_id, platform, *token_and_times):
        assert api.force_logout(user_id, platform, secret=SECRET).json["errCode"] == 0
        return publish_token(state, user_id, platform, *token_and_times)

    monkeypatch.setattr(openim_redis.TokenState, "publish_token", kicked_meanwhile)
    kicked = api.user_token(user_id, 2)
    monkeypatch.undo()
    with cluster.client() as client:
        gateway = Gateway(client)
        assert gateway.parse(kicked) == KICKED
        assert api.parse_code(kicked) == 706
        later = api.user_token(user_id, 3)
        assert gateway.parse(later) == ACCEPTED and api.parse_code(later) == 0
