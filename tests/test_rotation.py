"""Rotation (docs/api-v2.md): previous API secrets and token keys still accepted; new tokens use the current key."""

import jwt
import pytest

from app.config import ConfigError
from tests.helpers import SECRET, TOKEN_SECRET, Api

OLD_SECRET = "old-api-secret-0123456789abcdef"
OLD_TOKEN_SECRET = "old-token-secret-0123456789abcdef"


def test_a_previous_api_secret_is_still_accepted(make_app):
    client = make_app(OPENIM_PREVIOUS_SECRETS=[OLD_SECRET]).test_client()
    api = Api(client)
    api.register("alice")
    assert api.user_token("alice", secret=OLD_SECRET)
    assert api.user_token("alice", secret=SECRET)
    answer = client.post(
        "/user/account_check",
        json={"secret": OLD_SECRET, "checkUserIDList": ["alice"], "operationID": "x"},
    ).json
    assert answer["errCode"] == 0


def test_an_api_secret_no_longer_listed_is_refused(make_app):
    client = make_app().test_client()
    Api(client).register("alice")
    body = {"secret": OLD_SECRET, "platform": 1, "userID": "alice", "operationID": "x"}
    assert client.post("/auth/user_token", json=body).json["errCode"] == 401
    body = {"secret": OLD_SECRET, "platform": 1, "fromUserID": "alice", "operationID": "x"}
    assert client.post("/auth/force_logout", json=body).json["errCode"] == 401


def test_tokens_of_a_previous_key_stay_valid_while_it_is_listed(make_app, clock):
    before = make_app(OPENIM_TOKEN_SECRET=OLD_TOKEN_SECRET, OPENIM_CLOCK=clock).test_client()
    old_token = Api(before).register("alice")

    rotated = make_app(OPENIM_PREVIOUS_TOKEN_SECRETS=[OLD_TOKEN_SECRET], OPENIM_CLOCK=clock).test_client()
    assert Api(rotated).parse_code(old_token) == 0

    finished = make_app(OPENIM_CLOCK=clock).test_client()
    assert Api(finished).parse_code(old_token) == 705


def test_new_tokens_are_signed_with_the_current_key_only(make_app, clock):
    client = make_app(OPENIM_PREVIOUS_TOKEN_SECRETS=[OLD_TOKEN_SECRET], OPENIM_CLOCK=clock).test_client()
    token = Api(client).register("alice")
    options = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}
    assert jwt.decode(token, TOKEN_SECRET, algorithms=["HS256"], options=options)["UID"] == "alice"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, OLD_TOKEN_SECRET, algorithms=["HS256"], options=options)


def test_a_kick_reaches_tokens_of_a_previous_key(make_app, clock):
    old_token = Api(make_app(OPENIM_TOKEN_SECRET=OLD_TOKEN_SECRET, OPENIM_CLOCK=clock).test_client()).register("alice")
    rotated = make_app(OPENIM_PREVIOUS_TOKEN_SECRETS=[OLD_TOKEN_SECRET], OPENIM_CLOCK=clock).test_client()
    body = {"secret": SECRET, "platform": 1, "fromUserID": "alice", "operationID": "x"}
    assert rotated.post("/auth/force_logout", json=body).json["errCode"] == 0
    assert Api(rotated).parse_code(old_token) == 706


@pytest.mark.parametrize("key", ["OPENIM_PREVIOUS_SECRETS", "OPENIM_PREVIOUS_TOKEN_SECRETS"])
def test_a_weak_previous_secret_stops_start_up(make_app, key):
    with pytest.raises(ConfigError, match=key):
        make_app(**{key: ["tuoyun"]})
