"""POST /auth/user_token: docs/api-v2.md."""

import pytest

from app.jwt_tokens import verify_token
from tests.helpers import MINIMAL_BODY, SECRET, TOKEN_SECRET, Api

TOKEN_BODY = {"secret": SECRET, "platform": 1, "userID": "u1", "operationID": "op-token"}


@pytest.fixture
def registered(api):
    assert api.post("/auth/user_register", MINIMAL_BODY).json["errCode"] == 0


def test_token_for_a_registered_user(api, registered, clock, make_app):
    answer = api.post("/auth/user_token", TOKEN_BODY).json
    assert answer["errCode"] == 0 and answer["errMsg"] == ""
    assert list(answer["data"]) == ["userID", "token", "expiredTime"]
    claims = verify_token(answer["data"]["token"], [TOKEN_SECRET], answer["data"]["expiredTime"] - 1)
    assert claims["UID"] == "u1"
    assert claims["exp"] == answer["data"]["expiredTime"]


def test_expired_time_is_exp_in_absolute_seconds(make_app, clock):
    api = Api(make_app(OPENIM_CLOCK=clock).test_client())
    api.post("/auth/user_register", MINIMAL_BODY)
    clock.now += 1000
    assert api.post("/auth/user_token", TOKEN_BODY).json["data"]["expiredTime"] == clock.now + 7 * 86400


@pytest.mark.parametrize(("platform", "name"), [(1, "IOS"), (3, "Windows"), (9, "IPad")])
def test_token_carries_the_platform(api, registered, platform, name):
    data = api.post("/auth/user_token", {**TOKEN_BODY, "platform": platform}).json["data"]
    assert verify_token(data["token"], [TOKEN_SECRET], data["expiredTime"] - 1)["Platform"] == name


def test_unknown_user_is_1101_404(api, registered):
    response = api.post("/auth/user_token", {**TOKEN_BODY, "userID": "U1"})
    assert response.status_code == 404
    assert response.json == {"errCode": 1101, "errMsg": "user not registered", "data": None}


def test_wrong_secret_is_401_even_for_unknown_user(api):
    response = api.post("/auth/user_token", {**TOKEN_BODY, "secret": "nope-nope-nope-nope"})
    assert response.status_code == 401 and response.json["errCode"] == 401


def test_register_only_fields_are_ignored(api, registered):
    assert api.post("/auth/user_token", {**TOKEN_BODY, "nickname": "", "gender": 99}).json["errCode"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("platform", 0), ("platform", "1"), ("userID", ""), ("userID", " u1"), ("operationID", ""), ("secret", None)],
)
def test_bad_fields(api, registered, field, value):
    answer = api.post("/auth/user_token", {**TOKEN_BODY, field: value}).json
    assert answer["errCode"] == 400 and answer["errMsg"].startswith(field)


def test_case_insensitive_keys_and_header_operation_id(api, registered):
    body = {"Secret": SECRET, "PLATFORM": 2, "userid": "u1"}
    assert api.post("/auth/user_token", body, headers={"operationID": "h"}).json["errCode"] == 0
