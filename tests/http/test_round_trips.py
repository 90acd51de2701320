"""gunicorn with four sync workers, over real sockets, on the suite's database."""

import base64
import json

import pytest

from app.jwt_tokens import mint_token
from tests.helpers import SECRET, TOKEN_SECRET
from tests.http.server import all_at_once, assert_no_server_errors, count_users, delete_users, err_codes
from tests.openim_api_page import REGISTER_ANSWER, REGISTER_REQUEST, USER_TOKEN_REQUEST

pytestmark = pytest.mark.http

SEVEN_DAYS = 7 * 24 * 60 * 60

# The two request examples of OpenIM's API page (tests/openim_api_page.py) are sent
# verbatim but for the secret: the page's `tuoyun` is refused as a published default.
# The page's answer to both: REGISTER_ANSWER's shape, and a token like its one.


def with_test_secret(raw_request: str) -> bytes:
    return raw_request.replace('"tuoyun"', json.dumps(SECRET)).encode("utf-8")


def token_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def assert_seed_shaped(answer: dict) -> None:
    assert list(answer) == list(REGISTER_ANSWER)
    assert list(answer["data"]) == list(REGISTER_ANSWER["data"])
    assert (answer["errCode"], answer["errMsg"], answer["data"]["userID"]) == (0, "", "openIM1111")
    token, expired_time = answer["data"]["token"], answer["data"]["expiredTime"]
    claims = token_claims(token)
    assert list(claims) == list(token_claims(REGISTER_ANSWER["data"]["token"]))
    assert claims["UID"] == "openIM1111" and claims["Platform"] == "IOS"
    assert claims["exp"] == expired_time == claims["iat"] + SEVEN_DAYS
    # Byte for byte what OpenIM mints for this user, platform and second.
    assert token == mint_token("openIM1111", 1, TOKEN_SECRET, 7, claims["iat"]).token


def test_seed_examples_answer_the_seed_shape(server, database):
    delete_users(database, "openIM1111")

    status, answer = server.post("/auth/user_register", with_test_secret(REGISTER_REQUEST))
    assert status == 200, answer
    assert_seed_shaped(answer)

    status, answer = server.post("/auth/user_token", with_test_secret(USER_TOKEN_REQUEST))
    assert status == 200, answer
    assert_seed_shaped(answer)


def test_race_on_one_user_id_has_exactly_one_winner(server, unique_id):
    user_id = unique_id("race")
    results = all_at_once([lambda i=i: server.register(user_id, f"op-{i}") for i in range(64)])

    assert_no_server_errors(results)
    codes = err_codes(results)
    assert codes.count(0) == 1
    assert codes.count(1102) == 63
    assert {status for status, answer in results if answer["errCode"] == 1102} == {409}


def test_300_concurrent_registrations_are_all_stored(server, database, unique_id):
    prefix = unique_id("many")
    user_ids = [f"{prefix}-{i}" for i in range(300)]

    results = all_at_once([lambda user_id=user_id: server.register(user_id) for user_id in user_ids])

    assert_no_server_errors(results)
    assert err_codes(results) == [0] * 300
    assert [answer["data"]["userID"] for _, answer in results] == user_ids
    assert count_users(database, prefix) == 300
    tokens = all_at_once([lambda user_id=user_id: server.user_token(user_id) for user_id in user_ids])
    assert err_codes(tokens) == [0] * 300
