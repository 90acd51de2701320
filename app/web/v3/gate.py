"""What every v3 route checks before its body (SPEC §12), as open-im-server's gin middleware does.

The `operationID` header on every route (mw.GinParseOperationID), then the
`token` header on all but get_admin_token and parse_token (GinParseToken and
its Whitelist, open-im-server internal/api/router.go): missing → 1001,
invalid → its 15xx code. The parsed token is the caller.
"""

from flask import Blueprint, g, request

from app.errors import InvalidInput
from app.storage import token_records
from app.storage.token_records import TokenOwner

bp = Blueprint("v3", __name__)

WITHOUT_TOKEN = {"v3.auth.get_admin_token", "v3.auth.parse_token"}
# As v2's body field: users keep the operationID that created them (the retry rule).
MAX_OPERATION_ID_LENGTH = 64


@bp.before_request
def check_headers() -> None:
    operation_id = request.headers.get("operationID")
    if not operation_id:
        raise InvalidInput("header must have operationID", fields={"operationID": ["Missing header."]})
    if len(operation_id) > MAX_OPERATION_ID_LENGTH:
        message = f"Longer than {MAX_OPERATION_ID_LENGTH} characters."
        raise InvalidInput(f"header operationID: {message}", fields={"operationID": [message]})
    if request.endpoint in WITHOUT_TOKEN:
        return
    token = request.headers.get("token")
    if not token:
        raise InvalidInput("header must have token", fields={"token": ["Missing header."]})
    g.v3_caller = token_records.parse_v3_token(token)


def caller() -> TokenOwner:
    """The owner of the request's token, checked by check_headers."""
    return g.v3_caller
