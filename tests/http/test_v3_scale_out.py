"""OpenIM v3 across instances (docs/deployment.md): three gunicorn instances on one database act as one.

Two serve v3 under /v3 beside v2 (wsgi:app), the third v3 at its root
(wsgi:app_v3, OpenIM v3's own layout): an admin token from one, a batch
registered through another, user tokens from the third, and a kick seen by all.
"""

import json
import uuid

import pytest
import requests

from tests.helpers import SECRET
from tests.http.server import REQUEST_TIMEOUT_SECONDS, Servers, all_at_once, assert_no_server_errors

pytestmark = pytest.mark.http

ADMIN = "imAdmin"
ADMINS_ENV = {"FLASK_OPENIM_MANAGER_UIDS": json.dumps([ADMIN])}


@pytest.fixture(scope="module")
def three_instances(tmp_path_factory, http_database_url):
    servers = Servers(tmp_path_factory)
    first = servers.start(http_database_url, workers=2, extra_env=ADMINS_ENV)
    second = servers.start(http_database_url, workers=2, upgrade=False, extra_env=ADMINS_ENV)
    third = servers.start(http_database_url, workers=2, upgrade=False, extra_env=ADMINS_ENV, wsgi_app="wsgi:app_v3")
    yield [(first, "/v3"), (second, "/v3"), (third, "")]
    servers.stop_all()


def v3_post(
    instance, route: str, body: dict, token: str | None = None, operation_id: str | None = None
) -> tuple[int, dict]:
    server, prefix = instance
    headers = {"operationID": operation_id or uuid.uuid4().hex}
    if token is not None:
        headers["token"] = token
    with requests.post(
        server.url + prefix + route, json=body, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
    ) as response:
        return response.status_code, response.json()


def test_admin_token_batch_register_user_token_and_a_kick_across_instances(three_instances, unique_id):
    first, second, third = three_instances
    status, answer = v3_post(first, "/auth/get_admin_token", {"secret": SECRET, "userID": ADMIN})
    assert (status, answer["errCode"]) == (200, 0), answer
    admin = answer["data"]["token"]

    users = [{"userID": unique_id(f"v3-{i}"), "nickname": f"n{i}"} for i in range(3)]
    assert v3_post(second, "/user/user_register", {"users": users}, token=admin)[1]["errCode"] == 0

    alice = users[0]["userID"]
    status, answer = v3_post(third, "/auth/get_user_token", {"platformID": 2, "userID": alice}, token=admin)
    assert (status, answer["errCode"]) == (200, 0), answer
    token = answer["data"]["token"]
    for instance in three_instances:
        answer = v3_post(instance, "/auth/parse_token", {"token": token})[1]
        assert answer["data"]["userID"] == alice and answer["data"]["platformID"] == 2

    assert v3_post(first, "/auth/force_logout", {"platformID": 2, "userID": alice}, token=admin)[1]["errCode"] == 0
    for instance in three_instances:
        assert v3_post(instance, "/auth/parse_token", {"token": token})[1]["errCode"] == 1506
    # The v2 door of the same service sees the v3 user too.
    server, _ = first
    assert server.user_token(alice)[1]["errCode"] == 0


def test_one_batch_raced_over_three_instances_is_stored_once(three_instances, unique_id):
    admin = v3_post(three_instances[0], "/auth/get_admin_token", {"secret": SECRET, "userID": ADMIN})[1]["data"][
        "token"
    ]
    users = [{"userID": unique_id(f"race-{i}"), "nickname": "n"} for i in range(20)]
    calls = [
        lambda i=i: v3_post(
            three_instances[i % 3], "/user/user_register", {"users": users}, token=admin, operation_id=f"op-{i}"
        )
        for i in range(30)
    ]
    results = all_at_once(calls)
    assert_no_server_errors(results)
    codes = [answer["errCode"] for _, answer in results]
    assert (codes.count(0), codes.count(1102)) == (1, 29)
    body = {"pagination": {"pageNumber": 1, "showNumber": 1000}, "userID": users[7]["userID"]}
    assert v3_post(three_instances[2], "/user/get_users", body, token=admin)[1]["data"]["total"] == 1
