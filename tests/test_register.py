"""POST /auth/user_register: docs/api-v2.md."""

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.jwt_tokens import verify_token
from app.storage.models import User
from tests.helpers import MINIMAL_BODY, SECRET, TOKEN_SECRET, Api

FULL_BODY = {
    "secret": SECRET,
    "platform": 1,
    "userID": "openIM1111",
    "nickname": "2222",
    "faceURL": "https://oss.com.cn/head",
    "gender": 1,
    "phoneNumber": "18666667777",
    "birth": 1640692941,
    "email": "xxxx@qq.com",
    "ex": "xxx",
    "operationID": "123111111",
}


def stored(app, user_id) -> User | None:
    with app.app_context():
        return db.session.execute(select(User).where(User.user_id == user_id)).scalar_one_or_none()


def user_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(User)).scalar_one()


def test_seed_example_registers_and_answers_a_token(app, api):
    response = api.post("/auth/user_register", FULL_BODY)
    assert response.status_code == 200
    answer = response.json
    assert list(answer) == ["errCode", "errMsg", "data"]
    assert answer["errCode"] == 0 and answer["errMsg"] == ""
    data = answer["data"]
    assert list(data) == ["userID", "token", "expiredTime"]
    assert data["userID"] == "openIM1111"
    claims = verify_token(data["token"], [TOKEN_SECRET], data["expiredTime"] - 1)
    assert claims["UID"] == "openIM1111" and claims["Platform"] == "IOS"
    assert claims["exp"] == data["expiredTime"] == claims["iat"] + 7 * 86400

    user = stored(app, "openIM1111")
    assert (user.nickname, user.face_url, user.gender, user.phone_number) == (
        "2222",
        "https://oss.com.cn/head",
        1,
        "18666667777",
    )
    assert (user.birth, user.email, user.ex, user.operation_id) == (1640692941, "xxxx@qq.com", "xxx", "123111111")
    assert user.created_at is not None


def test_optional_fields_default_to_empty(app, api):
    assert api.post("/auth/user_register", MINIMAL_BODY).json["errCode"] == 0
    user = stored(app, "u1")
    assert (user.face_url, user.gender, user.phone_number, user.birth, user.email, user.ex) == ("", 0, "", 0, "", "")


def test_token_platform_follows_the_request(api):
    data = api.post("/auth/user_register", {**MINIMAL_BODY, "platform": 5}).json["data"]
    assert verify_token(data["token"], [TOKEN_SECRET], data["expiredTime"] - 1)["Platform"] == "Web"


def test_token_expiry_follows_config(make_app, clock):
    api = Api(make_app(OPENIM_TOKEN_EXPIRE_DAYS=30, OPENIM_CLOCK=clock).test_client())
    assert api.post("/auth/user_register", MINIMAL_BODY).json["data"]["expiredTime"] == clock.now + 30 * 86400


class TestDuplicates:
    def test_same_user_other_operation_is_1102_409(self, app, api):
        assert api.post("/auth/user_register", MINIMAL_BODY).json["errCode"] == 0
        response = api.post("/auth/user_register", {**MINIMAL_BODY, "nickname": "other", "operationID": "op2"})
        assert response.status_code == 409
        assert response.json == {"errCode": 1102, "errMsg": "userID already registered", "data": None}
        assert stored(app, "u1").nickname == "n"  # nothing stored is lost or overwritten

    def test_retry_with_same_operation_succeeds_again(self, app, api, make_app):
        first = api.post("/auth/user_register", MINIMAL_BODY).json
        retry = api.post("/auth/user_register", {**MINIMAL_BODY, "platform": 2}).json
        assert first["errCode"] == retry["errCode"] == 0
        assert (
            verify_token(retry["data"]["token"], [TOKEN_SECRET], retry["data"]["expiredTime"] - 1)["Platform"]
            == "Android"
        )
        assert user_count(app) == 1

    def test_retry_after_retry_still_succeeds(self, api):
        for _ in range(3):
            assert api.post("/auth/user_register", MINIMAL_BODY).json["errCode"] == 0

    def test_user_ids_are_exact(self, app, api):
        for number, user_id in enumerate(["Bob", "bob", "BOB", "Bob\u00e9", "Bobe\u0301"]):
            body = {**MINIMAL_BODY, "userID": user_id, "operationID": f"op{number}"}
            assert api.post("/auth/user_register", body).json["errCode"] == 0, user_id
        assert user_count(app) == 5


class TestWireCompatibility:
    def test_keys_match_case_insensitively(self, app, api):
        body = {"SECRET": SECRET, "Platform": 1, "USERID": "u1", "NickName": "n", "faceUrl": "f", "operationid": "o"}
        assert api.post("/auth/user_register", body).json["errCode"] == 0
        assert stored(app, "u1").face_url == "f"

    def test_last_of_two_keys_for_one_field_wins(self, app, client):
        raw = (
            f'{{"secret":"{SECRET}","platform":1,"userID":"u1",'
            '"nickname":"first","NICKNAME":"second","operationID":"o"}'
        )
        assert client.post("/auth/user_register", data=raw).json["errCode"] == 0
        assert stored(app, "u1").nickname == "second"

    def test_phone_num_alias(self, app, api):
        assert api.post("/auth/user_register", {**MINIMAL_BODY, "phoneNum": "123"}).json["errCode"] == 0
        assert stored(app, "u1").phone_number == "123"

    def test_unknown_keys_are_ignored(self, api):
        body = {**MINIMAL_BODY, "createTime": 1, "loginLimit": 0, "loginIp": "1.2.3.4", "nested": {"a": [1]}}
        assert api.post("/auth/user_register", body).json["errCode"] == 0

    @pytest.mark.parametrize(
        "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8"]
    )
    def test_body_is_json_whatever_the_content_type(self, client, content_type):
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post("/auth/user_register", data=json.dumps(MINIMAL_BODY), headers=headers)
        assert response.json["errCode"] == 0

    @pytest.mark.parametrize("field", ["faceURL", "gender", "phoneNumber", "birth", "email", "ex"])
    def test_null_optional_field_means_absent(self, app, api, field):
        assert api.post("/auth/user_register", {**MINIMAL_BODY, field: None}).json["errCode"] == 0

    @pytest.mark.parametrize("field", ["secret", "platform", "userID", "nickname", "operationID"])
    def test_null_required_field_is_an_error(self, api, field):
        answer = api.post("/auth/user_register", {**MINIMAL_BODY, field: None}).json
        assert answer["errCode"] == 400 and field in answer["errMsg"]

    def test_operation_id_from_header(self, app, api):
        body = {key: value for key, value in MINIMAL_BODY.items() if key != "operationID"}
        assert api.post("/auth/user_register", body, headers={"operationID": "from-header"}).json["errCode"] == 0
        assert stored(app, "u1").operation_id == "from-header"

    def test_operation_id_body_wins_over_header(self, app, api):
        assert (
            api.post("/auth/user_register", MINIMAL_BODY, headers={"operationID": "from-header"}).json["errCode"] == 0
        )
        assert stored(app, "u1").operation_id == "op1"

    def test_answer_is_go_encoded(self, api):
        response = api.post("/auth/user_register", {**MINIMAL_BODY, "userID": "用户<1>"})
        assert '"userID":"用户\\u003c1\\u003e"'.encode() in response.data


def bad_field(api, field, value) -> dict:
    response = api.post("/auth/user_register", {**MINIMAL_BODY, field: value})
    assert response.status_code == 400
    return response.json


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("secret", "s" * 257),
        ("secret", 123),
        ("platform", 0),
        ("platform", 10),
        ("platform", -1),
        ("platform", True),
        ("platform", 1.0),
        ("platform", "1"),
        ("platform", 2**70),
        ("userID", ""),
        ("userID", "u" * 65),
        ("userID", " lead"),
        ("userID", "trail "),
        ("userID", "tab\tinside"),
        ("userID", "nul\x00"),
        ("userID", "del\x7f"),
        ("userID", "\u2003em-space"),
        ("userID", 5),
        ("nickname", ""),
        ("nickname", "n" * 65),
        ("nickname", ["n"]),
        ("faceURL", "f" * 1025),
        ("gender", 3),
        ("gender", -1),
        ("gender", False),
        ("gender", 1.5),
        ("phoneNumber", "1" * 33),
        ("phoneNumber", 18666667777),
        ("birth", -1),
        ("birth", 4294967296),
        ("birth", 1.0),
        ("email", "e" * 65),
        ("ex", "x" * 1025),
        ("ex", {"a": 1}),
        ("operationID", ""),
        ("operationID", "o" * 65),
    ],
)
def test_each_bad_field_is_named(api, field, value):
    answer = bad_field(api, field, value)
    assert answer["errCode"] == 400
    assert answer["errMsg"].startswith(f"{field}: ")
    assert list(answer["data"]["fields"]) == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("userID", "u" * 64),
        ("userID", "in side"),
        ("userID", "用户😀𠀀"),
        ("nickname", "n" * 64),
        ("faceURL", "f" * 1024),
        ("gender", 0),
        ("gender", 2),
        ("phoneNumber", "1" * 32),
        ("birth", 0),
        ("birth", 4294967295),
        ("email", "e" * 64),
        ("ex", "x" * 1024),
        ("operationID", "o" * 64),
        ("platform", 9),
        ("secret", SECRET),
    ],
)
def test_limits_are_inclusive(app, api, field, value):
    assert api.post("/auth/user_register", {**MINIMAL_BODY, field: value}).json["errCode"] == 0


def test_every_bad_field_is_named_at_once(api):
    answer = api.post("/auth/user_register", {"secret": SECRET, "platform": 0, "userID": "", "gender": 7}).json
    assert answer["errCode"] == 400
    assert set(answer["data"]["fields"]) == {"platform", "userID", "nickname", "gender", "operationID"}
    for field in answer["data"]["fields"]:
        assert f"{field}: " in answer["errMsg"]


class TestSecret:
    def test_wrong_secret_is_401(self, app, api):
        response = api.post("/auth/user_register", {**MINIMAL_BODY, "secret": "wrong-secret-0123456789"})
        assert response.status_code == 401
        assert response.json == {"errCode": 401, "errMsg": "secret mismatch", "data": None}
        assert stored(app, "u1") is None

    def test_missing_secret_is_a_bad_field(self, api):
        body = {key: value for key, value in MINIMAL_BODY.items() if key != "secret"}
        answer = api.post("/auth/user_register", body).json
        assert answer["errCode"] == 400 and "secret" in answer["errMsg"]

    def test_fields_are_checked_before_the_secret(self, api):
        answer = api.post("/auth/user_register", {**MINIMAL_BODY, "secret": "wrong", "platform": 0}).json
        assert answer["errCode"] == 400

    def test_secret_is_checked_before_the_database(self, api):
        assert api.post("/auth/user_register", MINIMAL_BODY).json["errCode"] == 0
        assert (
            api.post("/auth/user_register", {**MINIMAL_BODY, "secret": "wrong", "operationID": "x"}).json["errCode"]
            == 401
        )

    def test_non_ascii_secret_is_a_mismatch_not_a_crash(self, api):
        assert api.post("/auth/user_register", {**MINIMAL_BODY, "secret": "密钥"}).json["errCode"] == 401
