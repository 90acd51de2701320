"""/v3/user/* (docs/api-v3.md): batch register, profiles, account_check, paged listings."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.storage.models import User
from tests.helpers import FIXED_NOW, SECRET
from tests.v3_calls import call, code, register_users, user_token


def stored_ids(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(User.user_id).order_by(User.user_id)).scalars())


def stored(app, user_id) -> User:
    with app.app_context():
        return db.session.execute(select(User).where(User.user_id == user_id)).scalar_one()


def register_batch(client, token, users, operation_id="op-batch"):
    return call(client, "/user/user_register", {"users": users}, token=token, operation_id=operation_id)


class TestUserRegister:
    def test_stores_every_user_of_the_batch_with_its_v3_fields(self, v3_app, v3_client, admin):
        users = [
            {"userID": "alice", "nickname": "Alice", "faceURL": "https://a/f", "ex": "x", "globalRecvMsgOpt": 2},
            {"userID": "bot", "nickname": "Bot", "appMangerLevel": 4},
        ]
        assert register_batch(v3_client, admin, users) == {"errCode": 0, "errMsg": "", "errDlt": ""}
        alice, bot = stored(v3_app, "alice"), stored(v3_app, "bot")
        assert (alice.nickname, alice.face_url, alice.ex, alice.global_recv_msg_opt) == ("Alice", "https://a/f", "x", 2)
        assert (alice.app_manger_level, bot.app_manger_level, bot.face_url) == (0, 4, "")
        assert alice.operation_id == "op-batch"

    def test_nested_keys_bind_case_insensitively_and_unknown_ones_are_ignored(self, v3_app, v3_client, admin):
        users = [{"USERID": "alice", "NickName": "A", "appmangerlevel": 1, "unknown": [1]}]
        assert code(call(v3_client, "/user/user_register", {"Users": users}, token=admin)) == 0
        assert stored(v3_app, "alice").app_manger_level == 1

    def test_only_an_admin_may_register(self, v3_app, v3_client, admin):
        register_users(v3_client, admin, "alice")
        alice = user_token(v3_client, admin, "alice")
        assert code(register_batch(v3_client, alice, [{"userID": "bob", "nickname": "b"}])) == 1002
        assert stored_ids(v3_app) == ["alice"]

    def test_any_user_already_registered_is_1102_and_nothing_is_stored(self, v3_app, v3_client, admin):
        register_users(v3_client, admin, "bob", operation_id="first")
        users = [{"userID": "alice", "nickname": "a"}, {"userID": "bob", "nickname": "b"}]
        answer = register_batch(v3_client, admin, users, operation_id="second")
        assert (answer["errCode"], answer["errMsg"]) == (1102, "RegisteredAlreadyError")
        assert stored_ids(v3_app) == ["bob"]

    def test_the_same_batch_again_with_the_same_operation_id_is_a_retry(self, v3_app, v3_client, admin):
        users = [{"userID": "alice", "nickname": "a"}, {"userID": "bob", "nickname": "b"}]
        assert code(register_batch(v3_client, admin, users, operation_id="op-1")) == 0
        assert code(register_batch(v3_client, admin, users, operation_id="op-1")) == 0
        assert code(register_batch(v3_client, admin, users, operation_id="op-2")) == 1102
        # A retry that adds a user is not a retry of the stored batch.
        more = [*users, {"userID": "carol", "nickname": "c"}]
        assert code(register_batch(v3_client, admin, more, operation_id="op-1")) == 1102
        assert stored_ids(v3_app) == ["alice", "bob"]

    def test_a_userid_twice_in_one_batch_is_1001_and_nothing_is_stored(self, v3_app, v3_client, admin):
        users = [
            {"userID": "alice", "nickname": "a"},
            {"userID": "bob", "nickname": "b"},
            {"userID": "alice", "nickname": "c"},
        ]
        answer = register_batch(v3_client, admin, users)
        assert answer["errCode"] == 1001 and "users" in answer["errDlt"]
        assert stored_ids(v3_app) == []

    @pytest.mark.parametrize("count", [0, 1001])
    def test_from_1_to_1000_users(self, v3_app, v3_client, admin, count):
        users = [{"userID": f"u{i}", "nickname": "n"} for i in range(count)]
        answer = register_batch(v3_client, admin, users)
        assert answer["errCode"] == 1001 and "users" in answer["errDlt"]
        assert stored_ids(v3_app) == []

    def test_a_batch_of_1000_is_stored(self, v3_app, v3_client, admin):
        users = [{"userID": f"u{i:04}", "nickname": "n"} for i in range(1000)]
        assert code(register_batch(v3_client, admin, users)) == 0
        assert len(stored_ids(v3_app)) == 1000

    @pytest.mark.parametrize(
        ("user", "field"),
        [
            ({"userID": "a:b", "nickname": "n"}, "userID"),
            ({"userID": "", "nickname": "n"}, "userID"),
            ({"userID": "x" * 65, "nickname": "n"}, "userID"),
            ({"userID": " a", "nickname": "n"}, "userID"),
            ({"userID": "a"}, "nickname"),
            ({"userID": "a", "nickname": "x" * 65}, "nickname"),
            ({"userID": "a", "nickname": "n", "faceURL": "x" * 1025}, "faceURL"),
            ({"userID": "a", "nickname": "n", "ex": "x" * 1025}, "ex"),
            ({"userID": "a", "nickname": "n", "appMangerLevel": 5}, "appMangerLevel"),
            ({"userID": "a", "nickname": "n", "appMangerLevel": -1}, "appMangerLevel"),
            ({"userID": "a", "nickname": "n", "globalRecvMsgOpt": 3}, "globalRecvMsgOpt"),
            ({"userID": "a", "nickname": "n", "globalRecvMsgOpt": True}, "globalRecvMsgOpt"),
        ],
    )
    def test_field_rules_name_the_bad_field(self, v3_app, v3_client, admin, user, field):
        answer = register_batch(v3_client, admin, [{"userID": "good", "nickname": "n"}, user])
        assert (answer["errCode"], answer["errMsg"]) == (1001, "ArgsError")
        assert field in answer["errDlt"] and "1" in answer["errDlt"]  # users[1]
        assert stored_ids(v3_app) == []


def profile_of(answer: dict) -> list[dict]:
    return answer["data"]["usersInfo"]


class TestGetUsersInfo:
    def test_any_valid_token_sees_those_found_in_the_order_asked(self, v3_app, v3_client, admin):
        register_users(v3_client, admin, "alice", "bob")
        alice = user_token(v3_client, admin, "alice")
        answer = call(v3_client, "/user/get_users_info", {"userIDs": ["bob", "nobody", "alice", "bob"]}, token=alice)
        assert [user["userID"] for user in profile_of(answer)] == ["bob", "alice"]

    def test_user_info_has_v3_fields_create_time_in_ms_and_leaves_zero_values_out(self, v3_app, v3_client, admin):
        register_batch(v3_client, admin, [{"userID": "alice", "nickname": "A", "ex": "e", "appMangerLevel": 1}])
        (info,) = profile_of(call(v3_client, "/user/get_users_info", {"userIDs": ["alice"]}, token=admin))
        created = stored(v3_app, "alice").created_at.replace(tzinfo=UTC)
        assert info == {
            "userID": "alice",
            "nickname": "A",
            "ex": "e",
            "createTime": int(created.timestamp() * 1000),
            "appMangerLevel": 1,
        }
        # The registration time by the app's clock (the tests' fixed one), as for a v2 registration.
        assert info["createTime"] == FIXED_NOW * 1000

    def test_nothing_found_leaves_data_empty(self, v3_client, admin):
        answer = call(v3_client, "/user/get_users_info", {"userIDs": ["nobody"]}, token=admin)
        assert answer == {"errCode": 0, "errMsg": "", "errDlt": "", "data": {}}

    def test_more_than_1000_ids_is_1001(self, v3_client, admin):
        answer = call(v3_client, "/user/get_users_info", {"userIDs": ["a"] * 1001}, token=admin)
        assert answer["errCode"] == 1001 and "userIDs" in answer["errDlt"]


class TestUpdateUserInfoEx:
    @pytest.mark.parametrize("route", ["/user/update_user_info_ex", "/user/update_user_info"])
    def test_the_user_itself_changes_only_the_given_fields(self, v3_app, v3_client, admin, route):
        register_batch(v3_client, admin, [{"userID": "alice", "nickname": "A", "faceURL": "f", "ex": "e"}])
        alice = user_token(v3_client, admin, "alice")
        body = {"userInfo": {"userID": "alice", "nickname": "A2", "globalRecvMsgOpt": 1}}
        assert call(v3_client, route, body, token=alice) == {"errCode": 0, "errMsg": "", "errDlt": ""}
        user = stored(v3_app, "alice")
        assert (user.nickname, user.face_url, user.ex, user.global_recv_msg_opt) == ("A2", "f", "e", 1)

    def test_an_admin_may_change_anyone_another_user_may_not(self, v3_app, v3_client, admin):
        register_users(v3_client, admin, "alice", "bob")
        bob = user_token(v3_client, admin, "bob")
        body = {"userInfo": {"userID": "alice", "faceURL": "new"}}
        assert code(call(v3_client, "/user/update_user_info_ex", body, token=bob)) == 1002
        assert stored(v3_app, "alice").face_url == ""
        assert code(call(v3_client, "/user/update_user_info_ex", body, token=admin)) == 0
        assert stored(v3_app, "alice").face_url == "new"

    def test_an_unknown_user_is_1004(self, v3_client, admin):
        body = {"userInfo": {"userID": "nobody", "nickname": "n"}}
        assert code(call(v3_client, "/user/update_user_info_ex", body, token=admin)) == 1004

    @pytest.mark.parametrize(
        "user_info",
        [{"nickname": "n"}, {"userID": "alice", "nickname": ""}, {"userID": "alice", "globalRecvMsgOpt": 3}],
    )
    def test_bad_fields_are_1001(self, v3_client, admin, user_info):
        answer = call(v3_client, "/user/update_user_info_ex", {"userInfo": user_info}, token=admin)
        assert answer["errCode"] == 1001 and "userInfo" in answer["errDlt"]


class TestAccountCheck:
    def test_each_id_once_in_the_order_asked_1_registered_0_left_out(self, v3_client, admin):
        register_users(v3_client, admin, "alice")
        answer = call(v3_client, "/user/account_check", {"checkUserIDs": ["nobody", "alice", "nobody"]}, token=admin)
        assert answer["data"] == {"results": [{"userID": "nobody"}, {"userID": "alice", "accountStatus": 1}]}

    def test_admin_only_and_at_most_100(self, v3_client, admin):
        register_users(v3_client, admin, "alice")
        alice = user_token(v3_client, admin, "alice")
        assert code(call(v3_client, "/user/account_check", {"checkUserIDs": ["alice"]}, token=alice)) == 1002
        assert code(call(v3_client, "/user/account_check", {"checkUserIDs": ["a"] * 101}, token=admin)) == 1001


def set_created(app, user_id: str, created: datetime, level: int | None = None) -> None:
    with app.app_context():
        values = {"created_at": created} if level is None else {"created_at": created, "app_manger_level": level}
        db.session.execute(update(User).where(User.user_id == user_id).values(**values))
        db.session.commit()


def page(client, token, number=1, show=10, **filters):
    return call(
        client, "/user/get_users", {"pagination": {"pageNumber": number, "showNumber": show}, **filters}, token=token
    )


class TestGetUsers:
    @pytest.fixture
    def population(self, v3_app, v3_client, admin):
        """Five users registered a minute apart: a0 oldest; a3 a notification account, a4 a bot."""
        register_users(v3_client, admin, "a0", "a1", "a2", "a3", "a4")
        start = datetime(2024, 1, 1)
        for index, user_id in enumerate(["a0", "a1", "a2", "a3", "a4"]):
            level = {1: 1, 3: 3, 4: 4}.get(index, 0)
            set_created(v3_app, user_id, start + timedelta(minutes=index), level)
        call(
            v3_client,
            "/user/update_user_info_ex",
            {"userInfo": {"userID": "a1", "nickname": "The Quick fox"}},
            token=admin,
        )

    def test_ordinary_users_newest_first_with_their_total(self, v3_client, admin, population):
        answer = page(v3_client, admin)
        assert answer["data"]["total"] == 3
        assert [user["userID"] for user in answer["data"]["users"]] == ["a2", "a1", "a0"]
        assert answer["data"]["users"][1]["createTime"] == int(
            datetime(2024, 1, 1, 0, 1, tzinfo=UTC).timestamp() * 1000
        )

    def test_pages(self, v3_client, admin, population):
        second = page(v3_client, admin, number=2, show=2)["data"]
        assert (second["total"], [user["userID"] for user in second["users"]]) == (3, ["a0"])
        assert page(v3_client, admin, number=3, show=2)["data"] == {"total": 3}

    def test_filters_by_exact_userid_and_by_nickname_part(self, v3_client, admin, population):
        assert [u["userID"] for u in page(v3_client, admin, userID="a2")["data"]["users"]] == ["a2"]
        assert page(v3_client, admin, userID="a")["data"] == {}
        assert page(v3_client, admin, userID="a3")["data"] == {}  # not an ordinary user
        assert [u["userID"] for u in page(v3_client, admin, nickName="Quick")["data"]["users"]] == ["a1"]
        assert page(v3_client, admin, nickName="quick")["data"] == {}  # case-sensitive, as OpenIM's regex
        assert page(v3_client, admin, nickName="%")["data"] == {}  # no wildcards
        assert page(v3_client, admin, nickName="nick-a")["data"]["total"] == 2

    def test_admin_only(self, v3_client, admin, population):
        register_users(v3_client, admin, "plain")
        assert code(page(v3_client, user_token(v3_client, admin, "plain"))) == 1002

    @pytest.mark.parametrize(
        "pagination",
        [
            None,
            {},
            {"pageNumber": 0, "showNumber": 1},
            {"pageNumber": 1, "showNumber": 0},
            {"pageNumber": 1, "showNumber": 1001},
        ],
    )
    def test_pagination_is_required_and_bounded(self, v3_client, admin, pagination):
        body = {} if pagination is None else {"pagination": pagination}
        answer = call(v3_client, "/user/get_users", body, token=admin)
        assert answer["errCode"] == 1001 and "pagination" in answer["errDlt"]


class TestGetAllUsersUid:
    def test_a_page_of_every_userid_in_order_with_the_total(self, v3_client, admin):
        register_users(v3_client, admin, "c", "a", "b")
        body = {"pagination": {"pageNumber": 1, "showNumber": 2}}
        assert call(v3_client, "/user/get_all_users_uid", body, token=admin)["data"] == {
            "total": 3,
            "userIDs": ["a", "b"],
        }
        body = {"pagination": {"pageNumber": 2, "showNumber": 2}}
        assert call(v3_client, "/user/get_all_users_uid", body, token=admin)["data"] == {"total": 3, "userIDs": ["c"]}

    def test_admin_only(self, v3_client, admin):
        register_users(v3_client, admin, "alice")
        alice = user_token(v3_client, admin, "alice")
        body = {"pagination": {"pageNumber": 1, "showNumber": 2}}
        assert code(call(v3_client, "/user/get_all_users_uid", body, token=alice)) == 1002

    def test_no_users_leaves_data_empty(self, v3_client, admin):
        body = {"pagination": {"pageNumber": 1, "showNumber": 2}}
        assert call(v3_client, "/user/get_all_users_uid", body, token=admin)["data"] == {}


def test_the_secret_is_no_admin_credential_in_v3(v3_client):
    # v3 routes take the token header only; a body secret is ignored, not a way in.
    answer = call(
        v3_client, "/user/get_all_users_uid", {"secret": SECRET, "pagination": {"pageNumber": 1, "showNumber": 1}}
    )
    assert answer["errCode"] == 1001 and answer["errDlt"] == "header must have token"


def test_create_time_is_the_servers_not_the_callers(v3_app, v3_client, admin):
    register_batch(v3_client, admin, [{"userID": "alice", "nickname": "A", "createTime": 5}])
    created = stored(v3_app, "alice").created_at.replace(tzinfo=UTC)
    assert created.timestamp() == FIXED_NOW  # the app's clock (the tests' fixed one), not the caller's 5


def test_bodies_are_json_whatever_the_content_type(v3_app, v3_client, admin):
    response = v3_client.post(
        "/v3/user/user_register",
        data=b'{"users": [{"userID": "alice", "nickname": "A"}]}',
        headers={"operationID": "o", "token": admin, "Content-Type": "text/plain"},
    )
    assert response.json["errCode"] == 0 and stored_ids(v3_app) == ["alice"]
