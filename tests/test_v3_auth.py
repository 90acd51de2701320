"""/v3/auth/* (docs/api-v3.md): admin tokens, user tokens an admin asks for, parse_token, force_logout."""

import pytest

from app.jwt_tokens import mint_v3_token
from tests.helpers import FIXED_NOW, SECRET, TOKEN_SECRET
from tests.v3_calls import ADMIN, V3_CONFIG, admin_token, call, code, parse, register_users, user_token


def get_user_token(client, token, user_id, platform=1):
    return call(client, "/auth/get_user_token", {"platformID": platform, "userID": user_id}, token=token)


def force_logout(client, token, user_id, platform=1):
    return call(client, "/auth/force_logout", {"platformID": platform, "userID": user_id}, token=token)


class TestGetAdminToken:
    def test_an_admin_gets_a_platform_10_token_without_being_registered(self, v3_client, clock):
        answer = call(v3_client, "/auth/get_admin_token", {"secret": SECRET, "userID": ADMIN})
        assert answer["errCode"] == 0 and answer["data"]["expireTimeSeconds"] == 7 * 86400
        # Recorded like any token: parse_token finds it.
        assert parse(v3_client, answer["data"]["token"])["data"] == {
            "userID": ADMIN,
            "platformID": 10,
            "expireTimeSeconds": FIXED_NOW + 7 * 86400,
        }

    def test_a_wrong_secret_is_1002(self, v3_client):
        answer = call(v3_client, "/auth/get_admin_token", {"secret": "wrong", "userID": ADMIN})
        assert answer == {"errCode": 1002, "errMsg": "NoPermissionError", "errDlt": "secret mismatch"}

    def test_a_userid_not_among_the_admins_is_1001(self, v3_client, admin):
        register_users(v3_client, admin, "alice")
        answer = call(v3_client, "/auth/get_admin_token", {"secret": SECRET, "userID": "alice"})
        assert (answer["errCode"], answer["errMsg"]) == (1001, "ArgsError")
        assert "userID" in answer["errDlt"]

    def test_the_secret_never_appears_in_an_answer(self, v3_client):
        answer = call(v3_client, "/auth/get_admin_token", {"secret": SECRET + "x", "userID": ADMIN})
        assert SECRET not in str(answer)


class TestGetUserToken:
    def test_an_admin_gets_a_recorded_token_for_a_user(self, v3_client, admin):
        register_users(v3_client, admin, "alice")
        answer = get_user_token(v3_client, admin, "alice", platform=11)
        assert answer["errCode"] == 0 and answer["data"]["expireTimeSeconds"] == 7 * 86400
        assert parse(v3_client, answer["data"]["token"])["data"]["platformID"] == 11

    def test_only_an_admin_may_ask(self, v3_client, admin):
        register_users(v3_client, admin, "alice", "bob")
        alice = user_token(v3_client, admin, "alice")
        assert code(get_user_token(v3_client, alice, "bob")) == 1002
        assert code(get_user_token(v3_client, alice, "alice")) == 1002

    @pytest.mark.parametrize(("platform", "expected"), [(10, 1002), (0, 1001), (12, 1001), (-1, 1001)])
    def test_platform_10_is_1002_and_outside_1_to_11_is_1001(self, v3_client, admin, platform, expected):
        register_users(v3_client, admin, "alice")
        assert code(get_user_token(v3_client, admin, "alice", platform)) == expected

    def test_platform_10_comes_before_the_user_checks(self, v3_client, admin):
        assert code(get_user_token(v3_client, admin, "nobody", platform=10)) == 1002

    def test_an_admins_userid_is_1002_registered_or_not(self, make_app, clock):
        client = make_app(OPENIM_CLOCK=clock, OPENIM_MANAGER_UIDS=[ADMIN, "admin2"]).test_client()
        token = admin_token(client)
        assert code(get_user_token(client, token, "admin2")) == 1002
        register_users(client, token, "admin2")
        assert code(get_user_token(client, token, "admin2")) == 1002

    def test_an_unknown_user_is_1004(self, v3_client, admin):
        answer = get_user_token(v3_client, admin, "nobody")
        assert (answer["errCode"], answer["errMsg"]) == (1004, "RecordNotFoundError")

    @pytest.mark.parametrize(("level", "expected"), [(0, 0), (1, 0), (2, 0), (3, 1001), (4, 1001)])
    def test_notification_and_bot_accounts_get_no_token(self, v3_client, admin, level, expected):
        register_users(v3_client, admin, "account", appMangerLevel=level)
        assert code(get_user_token(v3_client, admin, "account")) == expected


class TestParseToken:
    def test_a_live_token_names_its_user_platform_and_exp(self, v3_client, admin):
        register_users(v3_client, admin, "alice")
        token = user_token(v3_client, admin, "alice", platform=5)
        assert parse(v3_client, token) == {
            "errCode": 0,
            "errMsg": "",
            "errDlt": "",
            "data": {"userID": "alice", "platformID": 5, "expireTimeSeconds": FIXED_NOW + 7 * 86400},
        }

    def test_needs_no_token_header_but_the_operation_id_one(self, v3_client, admin):
        assert code(call(v3_client, "/auth/parse_token", {"token": admin}, operation_id=None)) == 1001

    @pytest.mark.parametrize("token", ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30"])
    def test_malformed_is_1503(self, v3_client, token):
        answer = parse(v3_client, token)
        assert (answer["errCode"], answer["errMsg"]) == (1503, "TokenMalformedError")

    def test_a_body_without_token_is_1001(self, v3_client):
        answer = call(v3_client, "/auth/parse_token", {})
        assert answer["errCode"] == 1001 and "token" in answer["errDlt"]

    def test_a_bad_signature_is_1505(self, v3_client):
        forged = mint_v3_token(ADMIN, 10, "another-key-0123456789abcdef", 7, FIXED_NOW).token
        assert parse(v3_client, forged)["errMsg"] == "TokenUnknownError"

    def test_expired_is_1501_and_not_yet_valid_is_1504(self, v3_client, admin, clock):
        clock.now = FIXED_NOW + 7 * 86400
        assert code(parse(v3_client, admin)) == 1501
        clock.now = FIXED_NOW - 6
        assert code(parse(v3_client, admin)) == 1504

    def test_never_issued_here_is_1507(self, v3_client):
        unrecorded = mint_v3_token(ADMIN, 10, TOKEN_SECRET, 7, FIXED_NOW).token
        answer = parse(v3_client, unrecorded)
        assert (answer["errCode"], answer["errMsg"]) == (1507, "TokenNotExistError")

    def test_signature_comes_before_expiry_and_expiry_before_the_record(self, v3_client, clock):
        forged = mint_v3_token(ADMIN, 10, "another-key-0123456789abcdef", 7, FIXED_NOW).token
        unrecorded = mint_v3_token(ADMIN, 10, TOKEN_SECRET, 7, FIXED_NOW).token
        clock.now = FIXED_NOW + 8 * 86400
        assert code(parse(v3_client, forged)) == 1505
        assert code(parse(v3_client, unrecorded)) == 1501

    def test_a_previous_token_key_still_verifies(self, make_app, clock):
        old_key = "previous-token-key-0123456789abc"
        old_app = make_app(OPENIM_CLOCK=clock, OPENIM_TOKEN_SECRET=old_key, **V3_CONFIG)
        token = admin_token(old_app.test_client())
        new_app = make_app(OPENIM_CLOCK=clock, OPENIM_PREVIOUS_TOKEN_SECRETS=[old_key], **V3_CONFIG)
        assert code(parse(new_app.test_client(), token)) == 0


class TestForceLogout:
    def test_kicks_that_platform_only_and_later_tokens_are_valid(self, v3_client, admin, clock):
        register_users(v3_client, admin, "alice", "bob")
        ios = user_token(v3_client, admin, "alice", 1)
        android = user_token(v3_client, admin, "alice", 2)
        bob = user_token(v3_client, admin, "bob", 1)
        assert force_logout(v3_client, admin, "alice", 1) == {"errCode": 0, "errMsg": "", "errDlt": ""}
        answer = parse(v3_client, ios)
        assert (answer["errCode"], answer["errMsg"]) == (1506, "TokenKickedError")
        assert code(parse(v3_client, android)) == 0
        assert code(parse(v3_client, bob)) == 0
        # The same second: the very same bytes, issued after the kick, are valid.
        assert user_token(v3_client, admin, "alice", 1) == ios
        assert code(parse(v3_client, ios)) == 0

    def test_a_kicked_token_is_refused_on_every_route(self, v3_client, admin):
        register_users(v3_client, admin, "alice")
        alice = user_token(v3_client, admin, "alice")
        force_logout(v3_client, admin, "alice")
        assert code(call(v3_client, "/user/get_users_info", {"userIDs": ["alice"]}, token=alice)) == 1506

    def test_only_an_admin_may_kick(self, v3_client, admin):
        register_users(v3_client, admin, "alice", "bob")
        alice = user_token(v3_client, admin, "alice")
        bob = user_token(v3_client, admin, "bob")
        assert code(force_logout(v3_client, alice, "bob")) == 1002
        assert code(parse(v3_client, bob)) == 0

    def test_an_unknown_user_is_1004(self, v3_client, admin):
        assert code(force_logout(v3_client, admin, "nobody")) == 1004


class TestMultiLogin:
    def test_kick_same_platform_applies_to_v3_tokens(self, make_app, clock):
        client = make_app(OPENIM_CLOCK=clock, OPENIM_MULTI_LOGIN="kick_same_platform", **V3_CONFIG).test_client()
        admin = admin_token(client)
        register_users(client, admin, "alice")
        first = user_token(client, admin, "alice", 1)
        other_platform = user_token(client, admin, "alice", 2)
        clock.now += 1
        second = user_token(client, admin, "alice", 1)
        assert [code(parse(client, token)) for token in (first, other_platform, second)] == [1506, 0, 0]

    def test_single_kicks_every_earlier_token_of_the_user(self, make_app, clock):
        client = make_app(OPENIM_CLOCK=clock, OPENIM_MULTI_LOGIN="single", **V3_CONFIG).test_client()
        admin = admin_token(client)
        register_users(client, admin, "alice")
        first = user_token(client, admin, "alice", 1)
        clock.now += 1
        second = user_token(client, admin, "alice", 2)
        assert [code(parse(client, token)) for token in (first, second)] == [1506, 0]
