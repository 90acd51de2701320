"""OPENIM_MULTI_LOGIN (docs/api-v2.md): keep, kick_same_platform, single; and what each costs user_token."""

import pytest
from sqlalchemy import event

from app.config import ConfigError
from app.extensions import db
from app.rules import tokens
from tests.helpers import Api


@pytest.fixture
def policy_api(make_app, clock):
    def build(policy: str | None) -> Api:
        overrides = {} if policy is None else {"OPENIM_MULTI_LOGIN": policy}
        api = Api(make_app(OPENIM_CLOCK=clock, **overrides).test_client())
        api.register("bob")
        return api

    return build


def issue_three(api, clock) -> tuple[str, str, str]:
    """alice on IOS, later IOS again, then Android; bob's token is issued too."""
    first_ios = api.register("alice", platform=1)
    clock.now += 1
    second_ios = api.user_token("alice", platform=1)
    android = api.user_token("alice", platform=2)
    return first_ios, second_ios, android


@pytest.mark.parametrize("policy", [None, "keep"])
def test_keep_is_the_default_and_every_token_stays_valid(policy_api, clock, policy):
    api = policy_api(policy)
    issued = issue_three(api, clock)
    assert [api.parse_code(token) for token in issued] == [0, 0, 0]


def test_kick_same_platform_kicks_the_earlier_tokens_of_that_platform(policy_api, clock):
    api = policy_api("kick_same_platform")
    bob = api.user_token("bob", platform=1)
    first_ios, second_ios, android = issue_three(api, clock)
    assert [api.parse_code(token) for token in (first_ios, second_ios, android)] == [706, 0, 0]
    assert api.parse_code(bob) == 0


def test_single_kicks_every_earlier_token_of_the_user(policy_api, clock):
    api = policy_api("single")
    bob = api.user_token("bob", platform=1)
    first_ios, second_ios, android = issue_three(api, clock)
    assert [api.parse_code(token) for token in (first_ios, second_ios, android)] == [706, 706, 0]
    assert api.parse_code(bob) == 0


@pytest.mark.parametrize("policy", ["kick_same_platform", "single"])
def test_a_same_second_reissue_is_valid_although_it_kicks_its_twin(policy_api, policy):
    api = policy_api(policy)
    first = api.register("alice")
    again = api.user_token("alice")
    assert again == first
    assert api.parse_code(again) == 0


@pytest.mark.parametrize("policy", ["everything", "Single", "", None, 1])
def test_an_unknown_policy_stops_start_up(make_app, policy):
    with pytest.raises(ConfigError, match="OPENIM_MULTI_LOGIN"):
        make_app(OPENIM_MULTI_LOGIN=policy)


@pytest.mark.parametrize("managers", ["admin", [1], None])
def test_manager_uids_must_be_a_list_of_user_ids(make_app, managers):
    with pytest.raises(ConfigError, match="OPENIM_MANAGER_UIDS"):
        make_app(OPENIM_MANAGER_UIDS=managers)


def statements_of_user_token(app, api: Api) -> list[str]:
    """The SQL statements (their verbs) one /auth/user_token sends."""
    verbs = []

    def note(conn, cursor, statement, parameters, context, executemany):
        verbs.append(statement.split(None, 1)[0].upper())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        api.user_token("alice")
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return verbs


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # The user's check and the record are one INSERT ... SELECT; under keep, a read
        # of the bound's index entries comes first, before SQLite's write lock is taken.
        ("keep", ["SELECT", "INSERT"]),
        # The kick first: on Galera a first statement that is an INSERT would not wait
        # for the user's registration through another node (wsrep_sync_wait).
        ("kick_same_platform", ["UPDATE", "INSERT"]),
        ("single", ["UPDATE", "INSERT"]),
    ],
)
def test_user_token_sends_no_more_statements_than_the_policy_needs(make_app, policy, expected, monkeypatch):
    monkeypatch.setattr(tokens, "PRUNE_EVERY", 10**9)
    app = make_app(OPENIM_MULTI_LOGIN=policy)
    api = Api(app.test_client())
    api.register("alice")
    assert statements_of_user_token(app, api) == expected
