"""OpenIM v3 across Galera nodes (docs/deployment.md and docs/api-v3.md): one instance per node, acting as one service.

An admin token through node 1, a batch registered through node 2, a user
token and parse_token through node 3, a kick through node 1 seen everywhere;
and one batch raced over all three nodes stored once, whole.
"""

import uuid

import pytest
import requests

from tests.galera.cluster import ADMIN, query
from tests.helpers import SECRET
from tests.http.server import REQUEST_TIMEOUT_SECONDS, all_at_once, assert_no_server_errors

pytestmark = pytest.mark.galera

ROUNDS = 10


def v3_post(
    instance, route: str, body: dict, token: str | None = None, operation_id: str | None = None
) -> tuple[int, dict]:
    headers = {"operationID": operation_id or uuid.uuid4().hex}
    if token is not None:
        headers["token"] = token
    with requests.post(
        instance.url + "/v3" + route, json=body, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
    ) as response:
        return response.status_code, response.json()


@pytest.fixture(scope="module")
def admin(instances) -> str:
    status, answer = v3_post(instances[0], "/auth/get_admin_token", {"secret": SECRET, "userID": ADMIN})
    if status == 404:
        pytest.skip("no /v3 routes in this version")
    assert answer["errCode"] == 0, answer
    return answer["data"]["token"]


def test_admin_token_batch_user_token_and_kick_across_nodes(instances, admin):
    node1, node2, node3 = instances
    for i in range(ROUNDS):
        users = [{"userID": f"v3-{uuid.uuid4().hex[:8]}-{i}-{j}", "nickname": "n"} for j in range(5)]
        assert v3_post(node2, "/user/user_register", {"users": users}, token=admin)[1]["errCode"] == 0
        user_id = users[i % 5]["userID"]
        # Registered through node 2, its token asked through node 3 in the very next request.
        _, issued = v3_post(node3, "/auth/get_user_token", {"platformID": 1, "userID": user_id}, token=admin)
        assert issued["errCode"] == 0, (i, issued)
        token = issued["data"]["token"]
        assert v3_post(node3, "/auth/parse_token", {"token": token})[1]["data"]["userID"] == user_id
        assert (
            v3_post(node1, "/auth/force_logout", {"platformID": 1, "userID": user_id}, token=admin)[1]["errCode"] == 0
        )
        for node, instance in enumerate(instances, start=1):
            _, parsed = v3_post(instance, "/auth/parse_token", {"token": token})
            assert parsed["errCode"] == 1506, (i, node, parsed)


def test_one_batch_raced_over_the_nodes_is_stored_once_and_whole(instances, admin):
    prefix = f"v3race-{uuid.uuid4().hex[:8]}-"
    users = [{"userID": f"{prefix}{j}", "nickname": "n"} for j in range(50)]
    calls = [
        lambda i=i: v3_post(
            instances[i % 3], "/user/user_register", {"users": users}, token=admin, operation_id=f"op-{i}"
        )
        for i in range(24)
    ]
    results = all_at_once(calls)
    assert_no_server_errors(results)
    codes = [answer["errCode"] for _, answer in results]
    assert (codes.count(0), codes.count(1102)) == (1, 23), codes
    winner = f"op-{codes.index(0)}"
    for node in (1, 2, 3):
        rows = query(
            node,
            "SELECT operation_id, COUNT(*) FROM users WHERE user_id LIKE %s GROUP BY operation_id",
            (prefix + "%",),
        )
        assert rows == [(winner, 50)], (node, rows)
