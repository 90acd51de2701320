"""Token kicks across nodes (docs/api-v2.md and docs/deployment.md): a kick through one node is seen by all at once."""

import uuid

import pytest

pytestmark = pytest.mark.galera

ROUNDS = 30


@pytest.fixture(scope="module")
def token_routes(instances):
    if instances[0].force_logout("galera-nobody")[1]["errCode"] == 404:
        pytest.skip("no /auth/force_logout in this version")


def test_a_kick_through_node_1_is_seen_through_node_3_at_once(instances, token_routes):
    node1, node2, node3 = instances
    for i in range(ROUNDS):
        user_id = f"kick-{uuid.uuid4().hex[:8]}-{i}"
        _, registered = node1.register(user_id)
        assert registered["errCode"] == 0, registered
        # Issued through node 2, kicked through node 1 in the very next request:
        # the kick must reach the token record node 2 has just written.
        _, issued = node2.user_token(user_id)
        assert issued["errCode"] == 0, issued
        assert node1.force_logout(user_id)[1]["errCode"] == 0
        for token in (registered["data"]["token"], issued["data"]["token"]):
            status, parsed = node3.parse_token(token)
            assert (status, parsed["errCode"]) == (401, 706), (i, parsed)


def test_a_token_issued_after_a_kick_is_valid_on_every_node(instances, token_routes):
    node1, node2, node3 = instances
    user_id = f"rekick-{uuid.uuid4().hex[:8]}"
    assert node1.register(user_id)[1]["errCode"] == 0
    assert node2.force_logout(user_id)[1]["errCode"] == 0
    _, fresh = node3.user_token(user_id)
    assert fresh["errCode"] == 0
    for node, instance in enumerate(instances, start=1):
        _, parsed = instance.parse_token(fresh["data"]["token"])
        assert (parsed["errCode"], parsed["data"]["userID"]) == (0, user_id), node
