"""/user/* (SPEC §10): load the body, find out who calls, check what they may do, answer."""
import itertools
from collections.abc import Iterator

from flask import Blueprint, Response, g, request, stream_with_context

from app import gojson, users
from app.access import Caller, authenticate
from app.errors import DatabaseUnavailable, InvalidToken, NoPermission, SecretMismatch, UserNotFound
from app.models import User
from app.web.route_docs import documented, paging_rule
from app.web.v2.errors import success
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
from app.web.wire import load_request

bp = Blueprint("user", __name__, url_prefix="/user")

CALLER_ERRORS = (SecretMismatch, InvalidToken, DatabaseUnavailable)


def caller_of(fields: dict) -> Caller:
    return authenticate(fields.pop("secret", None), request.headers.get("token"))


def user_info(user: User, caller: Caller) -> dict:
    schema = user_info_schema if caller.may_see_private_fields(user.user_id) else public_user_info_schema
    return schema.dump(user)


def streamed_success(batches: Iterator[list]) -> Response:
    """The success envelope, its `data` a JSON list written a batch at a time.

    The first batch is read before the answer starts, so that a database that
    fails at once still gets its 802 envelope; memory holds one batch at most.
    """
    first_batch = next(batches, [])

    def body() -> Iterator[str]:
        yield '{"errCode":0,"errMsg":"","data":['
        separator = ""
        for batch in itertools.chain([first_batch], batches):
            if batch:
                yield separator + ",".join(gojson.dumps(item) for item in batch)
                separator = ","
        yield "]}"

    g.err_code = 0
    return Response(stream_with_context(body()), mimetype="application/json")


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
    caller.require_self_or_admin(user_id)
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
    caller_of(fields).require_admin()
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
    """Without paging fields the whole list (streamed); with pageNumber and showNumber, that page.
    Manager or secret only."""
    fields = load_request(get_all_users_uid_schema)
    caller_of(fields).require_admin()
    if "page_number" in fields:
        return success(users.user_id_page(fields["page_number"], fields["show_number"]))
    return streamed_success(users.iter_user_id_batches())
