"""/user/* (docs/api-v2.md): load the body, find out who calls, check what they may do, answer."""

from flask import Blueprint, current_app, request

from app.errors import DatabaseUnavailable, InvalidInput, InvalidToken, NoPermission, SecretMismatch, UserNotFound
from app.rules import pages, users
from app.rules.access import Caller, v2_caller
from app.storage.models import User
from app.web.request_io import load_request
from app.web.route_docs import documented, paging_rule
from app.web.v2.answers import success
from app.web.v2.schemas import (
    AccountCheckSchema,
    AccountStatusSchema,
    GetAllUsersUidSchema,
    GetUsersInfoSchema,
    UpdateUserInfoSchema,
    UserInfoSchema,
    account_check_schema,
    get_all_users_uid_schema,
    get_users_info_schema,
    public_user_info_schema,
    update_user_info_schema,
    user_info_schema,
)

bp = Blueprint("user", __name__, url_prefix="/user")

CALLER_ERRORS = (SecretMismatch, InvalidToken, DatabaseUnavailable)


def caller_of(fields: dict) -> Caller:
    return v2_caller(fields.pop("secret", None), request.headers.get("token"))


def user_info(user: User, caller: Caller) -> dict:
    schema = user_info_schema if caller.may_see_private_fields(user.user_id) else public_user_info_schema
    return schema.dump(user)


def whole_user_id_list() -> list[str]:
    """Every userID, when there are at most OPENIM_UNPAGED_LIST_LIMIT; else InvalidInput asking for paging.

    Not streamed: a stream cut short (the worker timeout killing a worker that
    a slow client holds) would end like a whole answer over HTTP/1.0, and an
    HTTP/1.1 client may not check the chunked framing. A body built first has
    a Content-Length, so any client tells a cut answer from a whole one, and
    the bound keeps that body (memory, and the time a slow client takes) small.
    """
    limit = current_app.config["OPENIM_UNPAGED_LIST_LIMIT"]
    user_ids = pages.all_user_ids_if_at_most(limit)
    if user_ids is None:
        required = [f"Required when there are more than {limit} users."]
        raise InvalidInput(
            f"more than {limit} users: ask for them a page at a time, with pageNumber and showNumber (at most 1000)",
            fields={"pageNumber": required, "showNumber": required},
        )
    return user_ids


@bp.post("/get_users_info")
@documented(
    "Public profiles of users",
    request=GetUsersInfoSchema,
    data={"type": "array", "items": UserInfoSchema},
    errors=CALLER_ERRORS,
    token_header="optional",
)
def get_users_info():
    """The profiles of those of `userIDList` that are registered. phoneNumber, birth and email only
    for the caller's own record, or for every record when the caller is a manager or the AppServer."""
    fields = load_request(get_users_info_schema)
    caller = caller_of(fields)
    return success([user_info(user, caller) for user in users.find_users(fields["user_ids"])])


@bp.post("/update_user_info")
@documented(
    "Change a user's profile",
    request=UpdateUserInfoSchema,
    errors=(*CALLER_ERRORS, NoPermission, UserNotFound),
    token_header="optional",
)
def update_user_info():
    """Only the fields given change; one's own profile, or anyone's for a manager or the AppServer."""
    fields = load_request(update_user_info_schema)
    caller = caller_of(fields)
    fields.pop("operation_id")
    user_id = fields.pop("user_id")
    caller.require_self_or_privileged(user_id)
    users.update_profile(user_id, fields)
    return success(None)


@bp.post("/account_check")
@documented(
    "Which userIDs are registered",
    request=AccountCheckSchema,
    data={"type": "array", "items": AccountStatusSchema},
    errors=(*CALLER_ERRORS, NoPermission),
    token_header="optional",
)
def account_check():
    """One entry per userID asked about; manager or secret only."""
    fields = load_request(account_check_schema)
    caller_of(fields).require_privileged()
    return success(
        [
            {"userID": user_id, "accountStatus": "registered" if registered else "unregistered"}
            for user_id, registered in users.registered_ids(fields["user_ids"])
        ]
    )


@bp.post("/get_all_users_uid")
@documented(
    "Every registered userID",
    request=GetAllUsersUidSchema,
    data={"type": "array", "items": {"type": "string"}},
    errors=(*CALLER_ERRORS, NoPermission),
    token_header="optional",
    body_rules={"allOf": [paging_rule("pageNumber", "showNumber"), paging_rule("showNumber", "pageNumber")]},
)
def get_all_users_uid():
    """Without paging fields the whole list, up to OPENIM_UNPAGED_LIST_LIMIT (10 000) users, beyond
    which it answers 400 asking for paging; with pageNumber and showNumber, that page.
    Manager or secret only."""
    fields = load_request(get_all_users_uid_schema)
    caller_of(fields).require_privileged()
    if "page_number" in fields:
        return success(pages.user_ids_page(fields["page_number"], fields["show_number"]))
    return success(whole_user_id_list())
