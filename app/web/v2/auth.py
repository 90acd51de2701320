"""/auth/*: load the body with a schema, check the caller, call the rules, answer."""

from flask import Blueprint, request

from app.errors import (
    AlreadyRegistered,
    DatabaseUnavailable,
    InvalidToken,
    NoPermission,
    SecretMismatch,
    UserNotFound,
)
from app.jwt_tokens import IssuedToken
from app.openim import PLATFORM_NAMES
from app.rules import tokens, users
from app.rules.access import require_secret, v2_caller
from app.web.request_io import load_request
from app.web.route_docs import documented
from app.web.v2.answers import success
from app.web.v2.schemas import (
    ForceLogoutSchema,
    ParsedTokenSchema,
    ParseTokenSchema,
    RegisterSchema,
    TokenAnswerSchema,
    UserTokenSchema,
    force_logout_schema,
    parse_token_schema,
    register_schema,
    user_token_schema,
)

bp = Blueprint("auth", __name__, url_prefix="/auth")


def token_answer(issued: IssuedToken) -> dict:
    return {"userID": issued.user_id, "token": issued.token, "expiredTime": issued.expires_at}


@bp.post("/user_register")
@documented(
    "Register a user and issue a token",
    request=RegisterSchema,
    data=TokenAnswerSchema,
    errors=(SecretMismatch, AlreadyRegistered, DatabaseUnavailable),
)
def user_register():
    """Stores the user and answers a token for `platform`, as /auth/user_token would. An existing userID
    is 1102, unless the same operationID created it: then this is a retry and succeeds again."""
    fields = load_request(register_schema)
    require_secret(fields.pop("secret"))
    platform = fields.pop("platform")
    operation_id = fields.pop("operation_id")
    return success(token_answer(users.register_and_issue_token(fields, operation_id, platform)))


@bp.post("/user_token")
@documented(
    "Issue a token for a registered user",
    request=UserTokenSchema,
    data=TokenAnswerSchema,
    errors=(SecretMismatch, UserNotFound, DatabaseUnavailable),
)
def user_token():
    """Mints an OpenIM v2 token for `userID` on `platform` and records it."""
    fields = load_request(user_token_schema)
    require_secret(fields["secret"])
    return success(token_answer(users.issue_token(fields["user_id"], fields["platform"])))


@bp.post("/parse_token")
@documented(
    "Check a token",
    request=ParseTokenSchema,
    data=ParsedTokenSchema,
    errors=(InvalidToken, DatabaseUnavailable),
    token_header="required",
)
def parse_token():
    """Verifies the `token` header: signature, expiry, and its record (not kicked)."""
    load_request(parse_token_schema)
    owner = tokens.check(request.headers.get("token"))
    return success(
        {
            "ExpireTimeSeconds": owner.expires_at,
            "userID": owner.user_id,
            "platformID": owner.platform,
            "platform": PLATFORM_NAMES[owner.platform],
        }
    )


@bp.post("/force_logout")
@documented(
    "Kick a user's tokens on one platform",
    request=ForceLogoutSchema,
    errors=(SecretMismatch, InvalidToken, NoPermission, UserNotFound, DatabaseUnavailable),
    token_header="optional",
)
def force_logout():
    """Marks kicked every token of `fromUserID` on `platform` issued so far; manager or secret only."""
    fields = load_request(force_logout_schema)
    v2_caller(fields.get("secret"), request.headers.get("token")).require_privileged()
    users.kick_user(fields["from_user_id"], fields["platform"])
    return success(None)
