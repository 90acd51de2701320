"""Deleting a user revokes all of its tokens, those being issued at that moment included (docs/api-v2.md).

Issuers call users.issue_token in a loop, each thread in an app context of
its own, while `flask users delete --yes` runs; then someone else registers
the same userID. No token of the deleted user may parse, nor act for the new
owner: read their private fields, update their profile, kick (the userID is a
manager's, so a surviving token would have that power).
"""

import threading
import time
from datetime import datetime

import pytest

from app.admin.importer import store_batch
from app.errors import UserNotFound
from app.openim import ADMIN_PLATFORM
from app.rules import tokens, users
from app.storage.database import run_in_transaction
from tests.helpers import FIXED_NOW, SECRET, Api
from tests.v3_calls import ADMIN, admin_token, register_users, user_token

VICTIM = "victim"
BYSTANDER = "bystander"
ISSUERS = 4
ROUNDS = 5
PLATFORMS = range(1, 10)


class ShiftedClock:
    """The wall clock, moved forward on demand: a re-registration in a later second than any old token."""

    shift = 0

    def __call__(self) -> float:
        return time.time() + self.shift


@pytest.fixture
def shifted_clock():
    return ShiftedClock()


@pytest.fixture
def app(make_app, shifted_clock):
    return make_app(OPENIM_CLOCK=shifted_clock, OPENIM_MANAGER_UIDS=[VICTIM])


def issue_until_stopped(app, stop: threading.Event, issued: set[str], errors: list[BaseException], seed: int) -> None:
    with app.app_context():
        attempt = seed
        while not stop.is_set():
            attempt += 1
            try:
                issued.add(users.issue_token(VICTIM, PLATFORMS[attempt % len(PLATFORMS)]).token)
            except UserNotFound:
                pass
            except Exception as error:  # noqa: BLE001 - any other failure fails the test, below
                errors.append(error)
                return


def delete_while_issuing(app) -> set[str]:
    """Every token issued to VICTIM while four threads race the CLI's delete; the delete succeeded."""
    stop = threading.Event()
    issued: set[str] = set()
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=issue_until_stopped, args=(app, stop, issued, errors, seed)) for seed in range(ISSUERS)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.2)
        result = app.test_cli_runner().invoke(args=["users", "delete", VICTIM, "--yes"])
        time.sleep(0.2)  # the issuers keep trying after the delete
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert errors == []
    assert issued, "no token was issued before the delete"
    return issued


def private_fields_seen(client, token: str) -> dict:
    body = {"operationID": "info", "userIDList": [VICTIM]}
    return client.post("/user/get_users_info", json=body, headers={"token": token}).json


def test_no_token_survives_a_delete_racing_its_issue_nor_serves_the_next_owner(app, client, shifted_clock):
    Api(client).register(BYSTANDER)
    for round_number in range(ROUNDS):
        Api(client).register_manager(VICTIM, operationID=f"first-owner-{round_number}")
        old_tokens = delete_while_issuing(app)

        codes = {token: Api(client).parse_code(token) for token in old_tokens}
        assert {token: code for token, code in codes.items() if code != 705} == {}, f"round {round_number}"

        # At once: in the delete's own second, as often as not (docs/api-v2.md makes it wait for the next).
        new_owner = Api(client).register_manager(
            VICTIM, operationID=f"next-owner-{round_number}", nickname=f"nick-{VICTIM}", phoneNumber="+1 555 0100"
        )
        assert Api(client).parse_code(new_owner) == 0
        assert new_owner not in old_tokens
        for token in old_tokens:
            assert Api(client).parse_code(token) == 705
            assert private_fields_seen(client, token)["errCode"] == 705
            update = {"operationID": "u", "userID": VICTIM, "nickname": "hijacked"}
            assert client.post("/user/update_user_info", json=update, headers={"token": token}).json["errCode"] == 705
            kick = {"operationID": "k", "platform": 1, "fromUserID": BYSTANDER}
            assert client.post("/auth/force_logout", json=kick, headers={"token": token}).json["errCode"] == 705
        seen = private_fields_seen(client, new_owner)["data"][0]
        assert (seen["nickname"], seen["phoneNumber"]) == (f"nick-{VICTIM}", "+1 555 0100")

        # Clear the stage for the next round: the next owner goes too.
        assert app.test_cli_runner().invoke(args=["users", "delete", VICTIM, "--yes"]).exit_code == 0
    body = {"operationID": "p", "secret": SECRET, "platform": 1, "userID": BYSTANDER}
    assert client.post("/auth/user_token", json=body).json["errCode"] == 0


@pytest.fixture
def timed_app(make_app, clock):
    return make_app(OPENIM_CLOCK=clock)


def put_record(app, issued, holder: tokens.Holder = tokens.Holder.REGISTERED) -> None:
    with app.app_context():
        run_in_transaction(lambda connection: tokens.record_minted(connection, issued, holder))


def test_a_token_minted_before_its_users_registration_is_not_theirs(timed_app, clock):
    """Even with a record, as a delete that missed one (another Galera node) would leave it."""
    client = timed_app.test_client()
    old = Api(client).register(VICTIM, operationID="first-owner")
    with timed_app.app_context():
        old_issued = tokens.mint(VICTIM, 1)
        users.delete_user(VICTIM)
    clock.now = FIXED_NOW + 1
    new_owner = Api(client).register(VICTIM, operationID="next-owner")
    put_record(timed_app, old_issued)

    assert old_issued.token == old
    assert Api(client).parse_code(old) == 705
    assert Api(client).parse_code(new_owner) == 0


def test_the_registration_second_is_the_users(timed_app, clock):
    """created_at is the app's clock to the second: a token of the registration's own second is valid."""
    client = timed_app.test_client()
    Api(client).register(VICTIM)
    with timed_app.app_context():
        assert users.get_user(VICTIM).created_at == datetime(2022, 2, 24, 4, 1, 44)
        same_second = users.issue_token(VICTIM, 3).token
    assert Api(client).parse_code(same_second) == 0


@pytest.mark.parametrize("fraction", [999_900, 999_999])
def test_a_registration_seconds_fraction_does_not_move_it_on(timed_app, fraction):
    """An imported created_at keeps OpenIM's milliseconds; its second is still the one it began in
    (SQLite's strftime would round .9999 up to the next second, and refuse this token)."""
    with timed_app.app_context():
        store_batch([{"user_id": VICTIM, "nickname": "v", "created_at": datetime(2022, 2, 24, 4, 1, 44, fraction)}])
        same_second = users.issue_token(VICTIM, 3).token
    assert Api(timed_app.test_client()).parse_code(same_second) == 0


def test_only_a_v3_admin_token_stands_without_a_registered_user(timed_app):
    """v3 admins need not be registered (docs/api-v3.md); any other record needs its user."""
    client = timed_app.test_client()
    with timed_app.app_context():
        user_platform = tokens.mint("imAdmin", 1)
        admin_platform = tokens.mint("imAdmin", ADMIN_PLATFORM, tokens.V3)
        with pytest.raises(UserNotFound):
            put_record(timed_app, user_platform)
    put_record(timed_app, user_platform, holder=tokens.Holder.ADMIN)
    put_record(timed_app, admin_platform, holder=tokens.Holder.ADMIN)
    assert Api(client).parse_code(user_platform.token) == 705
    parsed = client.post("/v3/auth/parse_token", json={"token": admin_platform.token}, headers={"operationID": "o"})
    assert parsed.json["errCode"] == 0 and parsed.json["data"]["platformID"] == ADMIN_PLATFORM


@pytest.mark.parametrize("dialect", ["v2", "v3"])
def test_a_record_that_outlived_its_users_delete_is_refused(timed_app, dialect):
    """What a delete racing an issue through another Galera node can leave: a record, its user gone."""
    client = timed_app.test_client()
    Api(client).register(VICTIM)
    with timed_app.app_context():
        leftover = tokens.mint(VICTIM, 2, tokens.V2 if dialect == "v2" else tokens.V3)
        users.delete_user(VICTIM)
    put_record(timed_app, leftover, holder=tokens.Holder.ADMIN)
    if dialect == "v2":
        assert Api(client).parse_code(leftover.token) == 705
    else:
        parsed = client.post("/v3/auth/parse_token", json={"token": leftover.token}, headers={"operationID": "o"})
        assert parsed.json["errCode"] == 1507


@pytest.mark.parametrize("way", ["import", "cli"])
def test_every_way_of_registering_takes_the_apps_clock(timed_app, way):
    with timed_app.app_context():
        if way == "import":
            store_batch([{"user_id": VICTIM, "nickname": "v"}])
        else:
            result = timed_app.test_cli_runner().invoke(args=["users", "create", VICTIM, "--nickname", "v"])
            assert result.exit_code == 0, result.output
    with timed_app.app_context():  # a session of its own: on MySQL, one begun before would not see the user
        assert users.get_user(VICTIM).created_at == datetime(2022, 2, 24, 4, 1, 44)


@pytest.mark.parametrize("dialect", ["v2", "v3", "import"])
def test_the_next_owner_gets_no_token_of_the_previous_owners_second(make_app, clock, monkeypatch, dialect):
    """Deleted and registered again in one second: the registration waits for the next one, so that
    the new owner's token is never byte-identical to one the previous owner holds."""
    waited = []

    def sleep(seconds):
        waited.append(seconds)
        clock.now += 1

    monkeypatch.setattr("app.rules.tokens.time.sleep", sleep)
    timed_app = make_app(OPENIM_CLOCK=clock, OPENIM_MANAGER_UIDS=[ADMIN])
    client = timed_app.test_client()
    old = Api(client).register(VICTIM, operationID="first-owner")
    assert timed_app.test_cli_runner().invoke(args=["users", "delete", VICTIM, "--yes"]).exit_code == 0
    if dialect == "v2":
        new = Api(client).register(VICTIM, operationID="next-owner")
    elif dialect == "import":
        imported = timed_app.test_cli_runner().invoke(
            args=["users", "import", "-"], input=f"userID,nickname\n{BYSTANDER},b\n{VICTIM},v\n"
        )
        assert imported.exit_code == 0, imported.output
        new = Api(client).user_token(VICTIM)
    else:
        admin = admin_token(client)
        assert register_users(client, admin, VICTIM)["errCode"] == 0
        clock.now -= 1  # the admin asks for a token in the very second of the registration
        new = user_token(client, admin, VICTIM)
    assert waited and new != old
    assert Api(client).parse_code(old) == 705
    with timed_app.app_context():
        assert users.get_user(VICTIM).created_at == datetime(2022, 2, 24, 4, 1, 45)


def test_a_registration_gives_up_when_the_previous_owners_second_never_passes(timed_app, monkeypatch):
    """The fixed test clock never moves: after a bounded wait the registration answers 802, not a token."""
    monkeypatch.setattr("app.rules.tokens.MAX_WAIT_FOR_NEXT_OWNER_SECONDS", 0.2)
    client = timed_app.test_client()
    Api(client).register(VICTIM, operationID="first-owner")
    assert timed_app.test_cli_runner().invoke(args=["users", "delete", VICTIM, "--yes"]).exit_code == 0
    response = Api(client).try_register(VICTIM, operation_id="next-owner")
    assert (response.status_code, response.json["errCode"]) == (503, 802)
    with timed_app.app_context():
        assert users.find_user(VICTIM) is None
