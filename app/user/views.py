"""/user/* (SPEC §10): load the body, find out who calls, check what they may do, answer."""
import itertools
from collections.abc import Iterator

from flask import Response, g, request, stream_with_context

from app import gojson, users
from app.access import Caller, authenticate
from app.errors import success
from app.models import User
from app.schemas import (
    account_check_schema,
    get_all_users_uid_schema,
    get_users_info_schema,
    public_user_info_schema,
    update_user_info_schema,
    user_info_schema,
)
from app.user import bp
from app.wire import load_request


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
def get_users_info():
    fields = load_request(get_users_info_schema)
    caller = caller_of(fields)
    return success([user_info(user, caller) for user in users.find_users(fields["user_ids"])])


@bp.post("/update_user_info")
def update_user_info():
    fields = load_request(update_user_info_schema)
    caller = caller_of(fields)
    fields.pop("operation_id")
    user_id = fields.pop("user_id")
    caller.require_self_or_admin(user_id)
    users.update_profile(user_id, fields)
    return success(None)


@bp.post("/account_check")
def account_check():
    fields = load_request(account_check_schema)
    caller_of(fields).require_admin()
    return success(
        [
            {"userID": user_id, "accountStatus": "registered" if registered else "unregistered"}
            for user_id, registered in users.registered_ids(fields["user_ids"])
        ]
    )


@bp.post("/get_all_users_uid")
def get_all_users_uid():
    fields = load_request(get_all_users_uid_schema)
    caller_of(fields).require_admin()
    if "page_number" in fields:
        return success(users.user_id_page(fields["page_number"], fields["show_number"]))
    return streamed_success(users.iter_user_id_batches())
