"""/user/* (docs/api-v2.md): what each caller may see and change."""

import json

import pytest

from app.admin.importer import store_batch
from tests.helpers import SECRET, Api

PROFILE = {
    "faceURL": "https://f/a.png",
    "gender": 1,
    "phoneNumber": "+1 555",
    "birth": 946684800,
    "email": "a@x",
    "ex": "e",
}
PUBLIC_KEYS = ["userID", "nickname", "faceURL", "gender", "ex"]
PRIVATE_KEYS = ["phoneNumber", "birth", "email"]


@pytest.fixture
def app(make_app):
    return make_app(OPENIM_MANAGER_UIDS=["admin"])


@pytest.fixture
def people(api):
    """Tokens of alice, bob and the manager admin, each registered with a full profile."""
    tokens = {user_id: api.register(user_id, nickname=f"nick-{user_id}", **PROFILE) for user_id in ("alice", "bob")}
    return {**tokens, "admin": api.register_manager("admin", nickname="nick-admin", **PROFILE)}


def call(client, route: str, body: dict, token: str | None = None, secret: str | None = None):
    body = {"operationID": "op", **body}
    if secret is not None:
        body["secret"] = secret
    return client.post(f"/user/{route}", json=body, headers={} if token is None else {"token": token})


def code(response) -> tuple[int, int]:
    return response.status_code, response.json["errCode"]


# --- get_users_info ---------------------------------------------------------


def users_info(client, ids, **credentials) -> dict:
    answer = call(client, "get_users_info", {"userIDList": ids}, **credentials).json
    assert answer["errCode"] == 0, answer
    return {info["userID"]: info for info in answer["data"]}


def test_own_record_has_the_private_fields_others_do_not(client, people):
    infos = users_info(client, ["alice", "bob"], token=people["alice"])
    assert list(infos["alice"]) == ["userID", "nickname", "faceURL", "gender", "phoneNumber", "birth", "email", "ex"]
    assert infos["alice"] == {"userID": "alice", "nickname": "nick-alice", **PROFILE}
    assert sorted(infos["bob"]) == sorted(PUBLIC_KEYS)
    assert infos["bob"] == {
        "userID": "bob",
        "nickname": "nick-bob",
        "faceURL": PROFILE["faceURL"],
        "gender": 1,
        "ex": "e",
    }


@pytest.mark.parametrize("credential", ["manager", "secret"])
def test_a_manager_or_the_secret_sees_every_private_field(client, people, credential):
    credentials = {"token": people["admin"]} if credential == "manager" else {"secret": SECRET}
    infos = users_info(client, ["alice", "bob"], **credentials)
    for user_id in ("alice", "bob"):
        assert all(key in infos[user_id] for key in PUBLIC_KEYS + PRIVATE_KEYS)


def test_a_listed_manager_who_is_not_registered_is_an_ordinary_user(make_app):
    client = make_app(OPENIM_MANAGER_UIDS=["alice2"]).test_client()
    alice = Api(client).register("alice", **PROFILE)
    Api(client).register("bob", **PROFILE)
    assert sorted(users_info(client, ["bob"], token=alice)["bob"]) == sorted(PUBLIC_KEYS)


def test_unknown_ids_are_left_out_and_order_is_kept(client, people):
    answer = call(client, "get_users_info", {"userIDList": ["bob", "ghost", "alice", "bob"]}, secret=SECRET).json
    assert [info["userID"] for info in answer["data"]] == ["bob", "alice"]


@pytest.mark.parametrize(
    ("user_ids", "valid"),
    [([], True), (["a"] * 1000, True), (["a"] * 1001, False), ([1], False), ("alice", False), ([" a"], False)],
)
def test_get_users_info_list_rules(client, people, user_ids, valid):
    response = call(client, "get_users_info", {"userIDList": user_ids}, secret=SECRET)
    assert code(response) == ((200, 0) if valid else (400, 400))


def test_get_users_info_needs_a_credential(client, people):
    assert code(call(client, "get_users_info", {"userIDList": ["alice"]})) == (401, 703)
    assert code(call(client, "get_users_info", {"userIDList": ["alice"]}, secret="wrong")) == (401, 401)
    assert code(call(client, "get_users_info", {"userIDList": ["alice"]}, token="x.y.z")) == (401, 703)


# --- update_user_info -------------------------------------------------------


def stored(client, user_id: str) -> dict:
    return users_info(client, [user_id], secret=SECRET)[user_id]


def test_self_update_changes_only_the_given_fields(client, people):
    before = stored(client, "alice")
    changes = {"userID": "alice", "nickname": "Alice", "faceUrl": None, "birth": 0}
    response = call(client, "update_user_info", changes, token=people["alice"])
    assert code(response) == (200, 0)
    assert stored(client, "alice") == {**before, "nickname": "Alice", "birth": 0}


def test_another_users_token_may_not_update(client, people):
    before = stored(client, "alice")
    response = call(client, "update_user_info", {"userID": "alice", "nickname": "pwned"}, token=people["bob"])
    assert code(response) == (403, 801)
    assert stored(client, "alice") == before


@pytest.mark.parametrize("credential", ["manager", "secret"])
def test_a_manager_or_the_secret_may_update_anyone(client, people, credential):
    credentials = {"token": people["admin"]} if credential == "manager" else {"secret": SECRET}
    response = call(client, "update_user_info", {"userID": "bob", "email": "", "gender": 2}, **credentials)
    assert code(response) == (200, 0)
    assert (stored(client, "bob")["email"], stored(client, "bob")["gender"]) == ("", 2)


def test_updating_an_unregistered_user_is_1101(client, people):
    assert code(call(client, "update_user_info", {"userID": "ghost", "nickname": "x"}, secret=SECRET)) == (404, 1101)
    assert code(call(client, "update_user_info", {"userID": "ghost"}, secret=SECRET)) == (404, 1101)


def test_a_non_admin_updating_an_unregistered_user_learns_nothing(client, people):
    response = call(client, "update_user_info", {"userID": "ghost", "nickname": "x"}, token=people["bob"])
    assert code(response) == (403, 801)


@pytest.mark.parametrize(
    "fields",
    [{"nickname": ""}, {"gender": 3}, {"birth": -1}, {"phoneNumber": "1" * 33}, {"email": 5}, {}],
)
def test_update_fields_follow_the_register_rules(client, people, fields):
    body = {"userID": "alice", **fields} if fields else {"nickname": "no userID"}
    assert code(call(client, "update_user_info", body, secret=SECRET)) == (400, 400)


# --- account_check ----------------------------------------------------------


@pytest.mark.parametrize("credential", ["manager", "secret"])
def test_account_check_answers_each_id_once(client, people, credential):
    credentials = {"token": people["admin"]} if credential == "manager" else {"secret": SECRET}
    response = call(client, "account_check", {"checkUserIDList": ["bob", "ghost", "bob"]}, **credentials)
    assert response.json["data"] == [
        {"userID": "bob", "accountStatus": "registered"},
        {"userID": "ghost", "accountStatus": "unregistered"},
    ]


def test_account_check_is_for_managers_and_the_secret(client, people):
    assert code(call(client, "account_check", {"checkUserIDList": ["bob"]}, token=people["alice"])) == (403, 801)


def test_account_check_takes_at_most_100(client, people):
    assert code(call(client, "account_check", {"checkUserIDList": ["a"] * 100}, secret=SECRET)) == (200, 0)
    assert code(call(client, "account_check", {"checkUserIDList": ["a"] * 101}, secret=SECRET)) == (400, 400)


# --- get_all_users_uid ------------------------------------------------------


def test_all_user_ids_come_in_one_answer_of_known_length(app, client):
    with app.app_context():
        store_batch([{"user_id": f"u{number:04}", "nickname": "n"} for number in range(7)])
    response = call(client, "get_all_users_uid", {}, secret=SECRET)
    assert response.mimetype == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    assert json.loads(response.get_data()) == {
        "errCode": 0,
        "errMsg": "",
        "data": [f"u{number:04}" for number in range(7)],
    }


def test_more_users_than_the_unpaged_limit_asks_for_paging(make_app):
    app = make_app(OPENIM_UNPAGED_LIST_LIMIT=5)
    client = app.test_client()
    with app.app_context():
        store_batch([{"user_id": f"u{number}", "nickname": "n"} for number in range(5)])
    assert len(call(client, "get_all_users_uid", {}, secret=SECRET).json["data"]) == 5
    with app.app_context():
        store_batch([{"user_id": "u5", "nickname": "n"}])
    response = call(client, "get_all_users_uid", {}, secret=SECRET)
    assert code(response) == (400, 400)
    assert response.json["errMsg"].startswith("more than 5 users: ask for them a page at a time")
    assert set(response.json["data"]["fields"]) == {"pageNumber", "showNumber"}
    page = call(client, "get_all_users_uid", {"pageNumber": 2, "showNumber": 5}, secret=SECRET)
    assert page.json["data"] == ["u5"]


def test_no_users_is_an_empty_list(client):
    assert json.loads(call(client, "get_all_users_uid", {}, secret=SECRET).get_data())["data"] == []


def test_a_page_of_user_ids(client, people):
    page = {"pageNumber": 1, "showNumber": 2}
    assert call(client, "get_all_users_uid", page, token=people["admin"]).json["data"] == ["admin", "alice"]
    page = {"pageNumber": 2, "showNumber": 2}
    assert call(client, "get_all_users_uid", page, secret=SECRET).json["data"] == ["bob"]
    page = {"pageNumber": 3, "showNumber": 2}
    assert call(client, "get_all_users_uid", page, secret=SECRET).json["data"] == []


@pytest.mark.parametrize(
    "paging",
    [{"pageNumber": 1}, {"showNumber": 5}, {"pageNumber": 0, "showNumber": 5}, {"pageNumber": 1, "showNumber": 1001}],
)
def test_paging_fields_come_together_and_in_range(client, paging):
    assert code(call(client, "get_all_users_uid", paging, secret=SECRET)) == (400, 400)


def test_get_all_users_uid_is_for_managers_and_the_secret(client, people):
    assert code(call(client, "get_all_users_uid", {}, token=people["alice"])) == (403, 801)
    assert code(call(client, "get_all_users_uid", {})) == (401, 703)
