"""Admin identities (docs/api-v2.md): every admin token can be revoked, and no API hands out an admin's userID."""

import pytest

from app.openim import ADMIN_PLATFORM
from tests.helpers import SECRET, Api
from tests.v3_calls import ADMIN, admin_token, call, code, parse, register_users

# Listed in OPENIM_MANAGER_UIDS and never registered, as OpenIM v3's admins need not be.
UNREGISTERED_ADMIN = "imAdmin"


@pytest.fixture
def admin_app(make_app, clock):
    return make_app(OPENIM_CLOCK=clock, OPENIM_MANAGER_UIDS=[ADMIN, "ops"])


@pytest.fixture
def admin_client(admin_app):
    return admin_app.test_client()


def test_v3_force_logout_revokes_an_unregistered_admins_token(admin_client):
    mine, other = admin_token(admin_client), admin_token(admin_client, "ops")
    answer = call(admin_client, "/auth/force_logout", {"userID": ADMIN, "platformID": ADMIN_PLATFORM}, token=other)
    assert code(answer) == 0
    assert code(parse(admin_client, mine)) == 1506
    assert code(parse(admin_client, other)) == 0


def test_v2_force_logout_of_an_unregistered_admin_succeeds(admin_client):
    """v2's platforms stop at 9, so no admin token is on them: the kick succeeds and changes nothing else."""
    mine = admin_token(admin_client)
    answer = Api(admin_client).force_logout(ADMIN, platform=1, secret=SECRET).json
    assert answer["errCode"] == 0
    assert code(parse(admin_client, mine)) == 0


@pytest.mark.parametrize("command", [["users", "kick", ADMIN], ["users", "delete", ADMIN, "--yes"]])
def test_the_cli_revokes_an_unregistered_admins_tokens(admin_app, admin_client, command):
    mine = admin_token(admin_client)
    result = admin_app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 0, result.output
    assert code(parse(admin_client, mine)) in (1506, 1507)


def test_kicking_an_id_neither_registered_nor_admin_is_still_not_found(admin_client):
    assert Api(admin_client).force_logout("nobody", secret=SECRET).json["errCode"] == 1101
    answer = call(
        admin_client, "/auth/force_logout", {"userID": "nobody", "platformID": 1}, token=admin_token(admin_client)
    )
    assert code(answer) == 1004


@pytest.mark.parametrize("user_id", [ADMIN, "ops"])
def test_v2_user_register_refuses_an_admins_user_id(admin_client, user_id):
    response = Api(admin_client).try_register(user_id)
    assert response.status_code == 409
    assert response.json == {"errCode": 1102, "errMsg": "userID is reserved for an admin", "data": None}


def test_v3_user_register_refuses_a_batch_with_an_admins_user_id(admin_client):
    admin = admin_token(admin_client)
    assert code(register_users(admin_client, admin, "carol", ADMIN)) == 1102
    # All or none: carol was not stored either, and the admin's live token was not touched.
    assert code(register_users(admin_client, admin, "carol")) == 0
    assert code(parse(admin_client, admin)) == 0


def test_a_refused_registration_leaves_the_admins_tokens_valid(admin_client):
    """Registering a userID used to kill its live v3 admin tokens (the registration second rule)."""
    admin = admin_token(admin_client)
    Api(admin_client).try_register(ADMIN)
    assert code(parse(admin_client, admin)) == 0


def test_an_operator_may_register_an_admin(admin_app, admin_client):
    result = admin_app.test_cli_runner().invoke(args=["users", "create", "ops", "--nickname", "Ops"])
    assert result.exit_code == 0, result.output
    token = Api(admin_client).user_token("ops")
    assert Api(admin_client).parse_code(token) == 0
