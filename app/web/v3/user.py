"""/v3/user/* (docs/api-v3.md): load the body, check what the caller may do, call the rules, answer."""

from datetime import UTC

from flask import Blueprint, request

from app.errors import AlreadyRegistered, DatabaseUnavailable, InvalidToken, NoPermission, UserNotFound
from app.rules import batches, pages, users
from app.storage.models import User
from app.web.route_docs import documented
from app.web.v3.answers import success
from app.web.v3.gate import caller, load_body
from app.web.v3.schemas import (
    AccountCheckAnswerSchema,
    AccountCheckSchema,
    GetAllUsersUidSchema,
    GetUsersInfoSchema,
    GetUsersSchema,
    UpdateUserInfoExSchema,
    UserIDsPageSchema,
    UserRegisterSchema,
    UsersInfoSchema,
    UsersPageSchema,
    account_check_schema,
    get_all_users_uid_schema,
    get_users_info_schema,
    get_users_schema,
    update_user_info_ex_schema,
    user_register_schema,
)

bp = Blueprint("user", __name__, url_prefix="/user")

CALLER_ERRORS = (InvalidToken, DatabaseUnavailable)


def user_info(user: User) -> dict:
    """A user as v3 shows it: never v2's private fields (gender, phone, birth, email)."""
    created_ms = int(user.created_at.replace(tzinfo=UTC).timestamp() * 1000)
    return {
        "userID": user.user_id,
        "nickname": user.nickname,
        "faceURL": user.face_url,
        "ex": user.ex,
        "createTime": created_ms,
        "appMangerLevel": user.app_manger_level,
        "globalRecvMsgOpt": user.global_recv_msg_opt,
    }


@bp.post("/user_register")
@documented(
    "Register users, all or none (admin)",
    request=UserRegisterSchema,
    errors=(*CALLER_ERRORS, NoPermission, AlreadyRegistered),
    token_header="required",
)
def user_register():
    """Stores every user of `users` (1–1000) or none. A userID twice in the batch is 1001; one already
    registered is 1102, unless every user of the batch was created by this same `operationID` header:
    then this is a retry and succeeds again."""
    fields = load_body(user_register_schema)
    batches.register_batch(fields["users"], request.headers["operationID"])
    return success()


@bp.post("/get_users_info")
@documented(
    "Profiles of users",
    request=GetUsersInfoSchema,
    data=UsersInfoSchema,
    errors=CALLER_ERRORS,
    token_header="required",
)
def get_users_info():
    """The profiles of those of `userIDs` that are registered, in the order asked; any valid token."""
    fields = load_body(get_users_info_schema)
    return success({"usersInfo": [user_info(user) for user in users.find_users(fields["user_ids"])]})


@bp.post("/update_user_info_ex")
@documented(
    "Change a user's profile",
    request=UpdateUserInfoExSchema,
    errors=(*CALLER_ERRORS, NoPermission, UserNotFound),
    token_header="required",
)
def update_user_info_ex():
    """Only the fields of `userInfo` given change; the user itself or an admin."""
    changes = load_body(update_user_info_ex_schema)["user_info"]
    user_id = changes.pop("user_id")
    caller().require_self_or_privileged(user_id)
    users.update_profile(user_id, changes)
    return success()


@bp.post("/update_user_info")
@documented(
    "Change a user's profile (deprecated in OpenIM v3)",
    request=UpdateUserInfoExSchema,
    errors=(*CALLER_ERRORS, NoPermission, UserNotFound),
    token_header="required",
)
def update_user_info():
    """The same as /user/update_user_info_ex."""
    return update_user_info_ex()


@bp.post("/account_check")
@documented(
    "Which userIDs are registered (admin)",
    request=AccountCheckSchema,
    data=AccountCheckAnswerSchema,
    errors=(*CALLER_ERRORS, NoPermission),
    token_header="required",
)
def account_check():
    """Each userID asked about once, in the order asked: accountStatus 1 registered, 0 (left out) not."""
    fields = load_body(account_check_schema)
    results = [
        {"userID": user_id, "accountStatus": int(registered)}
        for user_id, registered in users.registered_ids(fields["user_ids"])
    ]
    return success({"results": results})


@bp.post("/get_users")
@documented(
    "Ordinary users, newest first (admin)",
    request=GetUsersSchema,
    data=UsersPageSchema,
    errors=(*CALLER_ERRORS, NoPermission),
    token_header="required",
)
def get_users():
    """A page of the users of appMangerLevel 0 or 1, newest first, with their total; `userID` keeps that
    exact ID, `nickName` the nicknames containing it."""
    fields = load_body(get_users_schema)
    pagination = fields["pagination"]
    page = pages.ordinary_users_page(
        pagination["page_number"], pagination["show_number"], fields.get("user_id"), fields.get("nickname")
    )
    return success({"total": page.total, "users": [user_info(user) for user in page.items]})


@bp.post("/get_all_users_uid")
@documented(
    "A page of every userID (admin)",
    request=GetAllUsersUidSchema,
    data=UserIDsPageSchema,
    errors=(*CALLER_ERRORS, NoPermission),
    token_header="required",
)
def get_all_users_uid():
    """userIDs in order, a page at a time, with how many there are."""
    pagination = load_body(get_all_users_uid_schema)["pagination"]
    page = pages.counted_user_ids_page(pagination["page_number"], pagination["show_number"])
    return success({"total": page.total, "userIDs": page.items})
