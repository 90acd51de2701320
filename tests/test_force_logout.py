"""POST /auth/force_logout and `flask users kick` (docs/api-v2.md): kicks, who may kick, across instances."""

import pytest

from app.rules import access
from tests.helpers import SECRET, Api

MANAGERS = {"OPENIM_MANAGER_UIDS": ["admin"]}


@pytest.fixture
def timed_app(make_app, clock):
    return make_app(OPENIM_CLOCK=clock, **MANAGERS)


@pytest.fixture
def timed_client(timed_app):
    return timed_app.test_client()


@pytest.fixture
def timed_api(timed_client):
    return Api(timed_client)


def test_secret_kicks_every_token_of_that_platform_only(timed_api, clock):
    first = timed_api.register("alice", platform=1)
    clock.now += 1
    second = timed_api.user_token("alice", platform=1)
    android = timed_api.user_token("alice", platform=2)
    bob = timed_api.register("bob", platform=1)

    response = timed_api.force_logout("alice", platform=1, secret=SECRET)
    assert response.status_code == 200
    assert response.json == {"errCode": 0, "errMsg": "", "data": None}
    assert timed_api.parse_code(first) == 706
    assert timed_api.parse_code(second) == 706
    assert timed_api.parse_code(android) == 0
    assert timed_api.parse_code(bob) == 0


def test_a_token_issued_after_the_kick_is_valid_even_byte_identical(timed_api):
    kicked = timed_api.register("alice")
    assert timed_api.force_logout("alice", secret=SECRET).json["errCode"] == 0
    again = timed_api.user_token("alice")  # same second: the same bytes
    assert again == kicked
    assert timed_api.parse_code(again) == 0
    assert timed_api.force_logout("alice", secret=SECRET).json["errCode"] == 0
    assert timed_api.parse_code(again) == 706


def test_a_registered_managers_token_may_kick(timed_api):
    admin = timed_api.register_manager("admin")
    alice = timed_api.register("alice")
    assert timed_api.force_logout("alice", token=admin).json["errCode"] == 0
    assert timed_api.parse_code(alice) == 706


def test_a_manager_must_be_registered(timed_app, timed_api):
    timed_api.register("alice")
    with timed_app.app_context():
        assert not access.is_v2_manager("admin")
        timed_api.register_manager("admin")
        assert access.is_v2_manager("admin")
        assert not access.is_v2_manager("alice")


def test_a_non_managers_token_is_801_and_kicks_nothing(timed_api):
    alice = timed_api.register("alice")
    bob = timed_api.register("bob")
    response = timed_api.force_logout("alice", token=bob)
    assert (response.status_code, response.json["errCode"]) == (403, 801)
    assert timed_api.force_logout("bob", token=bob).json["errCode"] == 801  # not even oneself
    assert timed_api.parse_code(alice) == 0
    assert timed_api.parse_code(bob) == 0


def test_a_kicked_managers_token_no_longer_kicks(timed_api):
    admin = timed_api.register_manager("admin")
    timed_api.register("alice")
    assert timed_api.force_logout("admin", token=admin).json["errCode"] == 0
    assert timed_api.force_logout("alice", token=admin).json["errCode"] == 706


@pytest.mark.parametrize(
    ("secret", "token", "expected"),
    [
        (None, None, (401, 703)),  # neither: the token is missing
        ("wrong-secret-0123456789", None, (401, 401)),
        ("wrong-secret-0123456789", "not-a-token", (401, 703)),
    ],
)
def test_without_a_good_credential_nothing_happens(timed_api, secret, token, expected):
    alice = timed_api.register("alice")
    response = timed_api.force_logout("alice", token=token, secret=secret)
    assert (response.status_code, response.json["errCode"]) == expected
    assert timed_api.parse_code(alice) == 0


def test_either_credential_suffices(timed_api):
    admin = timed_api.register_manager("admin")
    timed_api.register("alice")
    assert timed_api.force_logout("alice", token=admin, secret="wrong-secret-0123456789").json["errCode"] == 0
    assert timed_api.force_logout("alice", token="garbage", secret=SECRET).json["errCode"] == 0


def test_an_unregistered_user_is_1101(timed_api):
    response = timed_api.force_logout("nobody", secret=SECRET)
    assert (response.status_code, response.json["errCode"]) == (404, 1101)


@pytest.mark.parametrize(
    "body",
    [
        {"platform": 10, "fromUserID": "alice", "operationID": "x"},
        {"platform": 1, "operationID": "x"},
        {"platform": 1, "fromUserID": "alice"},
        {"platform": True, "fromUserID": "alice", "operationID": "x"},
    ],
)
def test_a_bad_body_is_400_before_the_credentials(timed_client, body):
    response = timed_client.post("/auth/force_logout", json=body)
    assert (response.status_code, response.json["errCode"]) == (400, 400)


def test_a_kick_through_one_instance_is_seen_by_another(make_app, clock):
    first = Api(make_app(OPENIM_CLOCK=clock).test_client())
    second = Api(make_app(OPENIM_CLOCK=clock).test_client())
    token = first.register("alice")
    assert second.parse_code(token) == 0
    assert first.force_logout("alice", secret=SECRET).json["errCode"] == 0
    assert second.parse_code(token) == 706
    assert first.parse_code(token) == 706


# --- flask users kick / show ------------------------------------------------


def test_cli_kick_without_platform_kicks_every_platform(timed_app, timed_api):
    ios = timed_api.register("alice", platform=1)
    android = timed_api.user_token("alice", platform=2)
    result = timed_app.test_cli_runner().invoke(args=["users", "kick", "alice"])
    assert result.exit_code == 0, result.output
    assert "kicked 2 token record(s) of alice on every platform" in result.output
    assert timed_api.parse_code(ios) == 706
    assert timed_api.parse_code(android) == 706


def test_cli_kick_with_platform_kicks_that_platform(timed_app, timed_api):
    ios = timed_api.register("alice", platform=1)
    android = timed_api.user_token("alice", platform=2)
    result = timed_app.test_cli_runner().invoke(args=["users", "kick", "alice", "--platform", "2"])
    assert result.exit_code == 0, result.output
    assert "on Android" in result.output
    assert timed_api.parse_code(ios) == 0
    assert timed_api.parse_code(android) == 706


def test_cli_kick_of_an_unregistered_user_fails(timed_app):
    result = timed_app.test_cli_runner().invoke(args=["users", "kick", "nobody"])
    assert result.exit_code != 0
    assert "not registered" in result.output


def test_cli_show_lists_live_tokens_per_platform_but_never_a_token(timed_app, timed_api, clock):
    issued = [timed_api.register("alice", platform=1)]
    clock.now += 1
    issued.append(timed_api.user_token("alice", platform=1))
    issued.append(timed_api.user_token("alice", platform=1))  # same second: the same token
    issued.append(timed_api.user_token("alice", platform=5))
    kicked = timed_api.user_token("alice", platform=2)
    timed_app.test_cli_runner().invoke(args=["users", "kick", "alice", "--platform", "2"])

    output = timed_app.test_cli_runner().invoke(args=["users", "show", "alice"]).output
    # Issued at FIXED_NOW + 1 (2022-02-24T04:01:45Z), for 7 days.
    assert "tokens       IOS: 2 live, the last until 2022-03-03T04:01:45Z" in output
    assert "tokens       Web: 1 live, the last until 2022-03-03T04:01:45Z" in output
    assert "Android" not in output
    assert not any(token in output for token in [*issued, kicked])


def test_cli_show_says_when_no_token_is_live(timed_app, timed_api, clock):
    timed_api.register("alice")
    clock.now += 7 * 86400
    output = timed_app.test_cli_runner().invoke(args=["users", "show", "alice"]).output
    assert "tokens       none live" in output
