"""One service, two dialects (docs/api-v3.md): the same users and the same token records."""

from tests.helpers import SECRET, Api
from tests.v3_calls import call, code, parse, register_users, user_token


def v2_register(client, user_id: str) -> str:
    body = {
        "secret": SECRET,
        "platform": 1,
        "userID": user_id,
        "nickname": f"v2-{user_id}",
        "operationID": "v2-op",
        "gender": 1,
        "phoneNumber": "123",
        "email": "e@x",
        "birth": 7,
    }
    answer = client.post("/auth/user_register", json=body).json
    assert answer["errCode"] == 0, answer
    return answer["data"]["token"]


def v2_token(client, user_id: str, platform: int = 1) -> str:
    body = {"secret": SECRET, "platform": platform, "userID": user_id, "operationID": "v2-op"}
    return client.post("/auth/user_token", json=body).json["data"]["token"]


def test_a_user_registered_through_v2_is_seen_by_v3_without_v2s_private_fields(v3_client, admin):
    v2_register(v3_client, "alice")
    (info,) = call(v3_client, "/user/get_users_info", {"userIDs": ["alice"]}, token=admin)["data"]["usersInfo"]
    assert set(info) == {"userID", "nickname", "createTime"}  # level 0, opt 0, no face/ex: left out
    assert info["nickname"] == "v2-alice"
    assert code(call(v3_client, "/auth/get_user_token", {"platformID": 2, "userID": "alice"}, token=admin)) == 0
    # And v3 refuses to register it again.
    assert code(register_users(v3_client, admin, "alice")) == 1102


def test_a_user_registered_through_v3_is_seen_by_v2(v3_client, admin):
    register_users(v3_client, admin, "bob")
    answer = v3_client.post(
        "/user/account_check", json={"secret": SECRET, "checkUserIDList": ["bob"], "operationID": "o"}
    ).json
    assert answer["data"] == [{"userID": "bob", "accountStatus": "registered"}]
    assert Api(v3_client).parse_code(v2_token(v3_client, "bob")) == 0
    # v2's retry rule does not make another operation's v3 user its own.
    body = {"secret": SECRET, "platform": 1, "userID": "bob", "nickname": "n", "operationID": "v2-op"}
    assert v3_client.post("/auth/user_register", json=body).json["errCode"] == 1102


def test_each_dialect_refuses_the_others_token(v3_client, admin):
    register_users(v3_client, admin, "alice")
    v2 = v2_token(v3_client, "alice")
    v3 = user_token(v3_client, admin, "alice")
    answer = parse(v3_client, v2)
    assert (answer["errCode"], answer["errMsg"]) == (1505, "TokenUnknownError")
    assert Api(v3_client).parse_code(v3) == 705
    # Nor does a v2 token open the v3 routes, or a v3 token the v2 ones.
    assert code(call(v3_client, "/user/get_users_info", {"userIDs": ["alice"]}, token=v2)) == 1505
    v2_route = v3_client.post(
        "/user/get_users_info", json={"userIDList": ["alice"], "operationID": "o"}, headers={"token": v3}
    )
    assert v2_route.json["errCode"] == 705


def test_a_v3_kick_kicks_v2_tokens_and_a_v2_kick_kicks_v3_tokens(v3_client, admin):
    register_users(v3_client, admin, "alice", "bob")
    alice_v2, alice_v3 = v2_token(v3_client, "alice"), user_token(v3_client, admin, "alice")
    assert code(call(v3_client, "/auth/force_logout", {"platformID": 1, "userID": "alice"}, token=admin)) == 0
    assert Api(v3_client).parse_code(alice_v2) == 706
    assert code(parse(v3_client, alice_v3)) == 1506

    bob_v2, bob_v3 = v2_token(v3_client, "bob"), user_token(v3_client, admin, "bob")
    body = {"secret": SECRET, "platform": 1, "fromUserID": "bob", "operationID": "o"}
    assert v3_client.post("/auth/force_logout", json=body).json["errCode"] == 0
    assert Api(v3_client).parse_code(bob_v2) == 706
    assert code(parse(v3_client, bob_v3)) == 1506


def test_deleting_a_user_revokes_its_v3_tokens(v3_app, v3_client, admin):
    from app.rules import users

    register_users(v3_client, admin, "alice")
    token = user_token(v3_client, admin, "alice")
    with v3_app.app_context():
        users.delete_user("alice")
    assert code(parse(v3_client, token)) == 1507


def test_profile_changes_through_one_dialect_show_in_the_other(v3_client, admin):
    v2_register(v3_client, "alice")
    call(v3_client, "/user/update_user_info_ex", {"userInfo": {"userID": "alice", "nickname": "changed"}}, token=admin)
    answer = v3_client.post(
        "/user/get_users_info", json={"secret": SECRET, "userIDList": ["alice"], "operationID": "o"}
    ).json
    assert answer["data"][0]["nickname"] == "changed" and answer["data"][0]["gender"] == 1
