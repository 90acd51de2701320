"""What every v3 route checks (docs/api-v3.md), as open-im-server's gin middleware and RPCs do.

Before the body: the `operationID` header on every route (mw.GinParseOperationID),
then the `token` header on all but WITHOUT_TOKEN (GinParseToken and its
Whitelist, open-im-server internal/api/router.go): missing → 1001, invalid →
its 15xx code. The token's owner is the caller. After the body (load_body):
the routes of ADMIN_ONLY refuse a caller that is not an admin (1002), as
OpenIM's RPCs do once the request has been read.
"""

from flask import Blueprint, g, request
from marshmallow import Schema

from app.errors import InvalidInput
from app.rules import access
from app.web.request_io import header_operation_id, load_request

bp = Blueprint("v3", __name__)

WITHOUT_TOKEN = {"v3.auth.get_admin_token", "v3.auth.parse_token"}
ADMIN_ONLY = {
    "v3.auth.get_user_token",
    "v3.auth.force_logout",
    "v3.user.user_register",
    "v3.user.account_check",
    "v3.user.get_users",
    "v3.user.get_all_users_uid",
}
# As v2's body field: users keep the operationID that created them (the retry rule).
MAX_OPERATION_ID_LENGTH = 64


@bp.before_request
def check_headers() -> None:
    current = request._get_current_object()  # resolved once: each read through the proxy is a lookup
    operation_id = header_operation_id(current)
    if not operation_id:
        raise InvalidInput("header must have operationID", fields={"operationID": ["Missing header."]})
    if len(operation_id) > MAX_OPERATION_ID_LENGTH:
        message = f"Longer than {MAX_OPERATION_ID_LENGTH} characters."
        raise InvalidInput(f"header operationID: {message}", fields={"operationID": [message]})
    if current.endpoint in WITHOUT_TOKEN:
        return
    token = current.headers.get("token")
    if not token:
        raise InvalidInput("header must have token", fields={"token": ["Missing header."]})
    g._get_current_object().v3_caller = access.v3_caller(token)


def caller() -> access.Caller:
    """The owner of the request's token, checked by check_headers."""
    return g.v3_caller


def load_body(schema: Schema) -> dict:
    """The request's body through `schema`; then, on an ADMIN_ONLY route, NoPermission unless an admin calls."""
    fields = load_request(schema)
    if request.endpoint in ADMIN_ONLY:
        caller().require_privileged()
    return fields
