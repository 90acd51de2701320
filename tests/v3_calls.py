"""Calling the v3 routes in tests: one request each, answers checked for v3's envelope."""

import pytest

from tests.helpers import SECRET

ADMIN = "imAdmin"
V3_CONFIG = {"OPENIM_MANAGER_UIDS": [ADMIN]}
ENVELOPE_KEYS = {"errCode", "errMsg", "errDlt"}


def call(client, route: str, body, token: str | None = None, operation_id: str | None = "op-test", prefix="/v3"):
    """POST `body` to the v3 route; the answer's JSON, after checking the envelope and HTTP 200."""
    headers = {}
    if operation_id is not None:
        headers["operationID"] = operation_id
    if token is not None:
        headers["token"] = token
    response = client.post(prefix + route, json=body, headers=headers)
    assert response.status_code == 200, response.data
    answer = response.json
    assert ENVELOPE_KEYS <= set(answer) <= ENVELOPE_KEYS | {"data"}, answer
    return answer


def code(answer: dict) -> int:
    return answer["errCode"]


def admin_token(client, user_id: str = ADMIN) -> str:
    answer = call(client, "/auth/get_admin_token", {"secret": SECRET, "userID": user_id})
    assert answer["errCode"] == 0, answer
    return answer["data"]["token"]


def register_users(client, admin: str, *user_ids: str, operation_id: str = "op-register", **fields) -> dict:
    users = [{"userID": user_id, "nickname": f"nick-{user_id}", **fields} for user_id in user_ids]
    return call(client, "/user/user_register", {"users": users}, token=admin, operation_id=operation_id)


def user_token(client, admin: str, user_id: str, platform: int = 1) -> str:
    answer = call(client, "/auth/get_user_token", {"platformID": platform, "userID": user_id}, token=admin)
    assert answer["errCode"] == 0, answer
    return answer["data"]["token"]


def parse(client, token: str) -> dict:
    return call(client, "/auth/parse_token", {"token": token})


@pytest.fixture
def v3_app(make_app, clock):
    return make_app(OPENIM_CLOCK=clock, **V3_CONFIG)


@pytest.fixture
def v3_client(v3_app):
    return v3_app.test_client()


@pytest.fixture
def admin(v3_client) -> str:
    return admin_token(v3_client)
