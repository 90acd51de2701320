"""/v3/auth/* (docs/api-v3.md): load the body, call the rules, answer in v3's envelope."""

from flask import Blueprint, current_app

from app.errors import DatabaseUnavailable, InvalidToken, NoPermission, SecretMismatch, UserNotFound
from app.jwt_tokens import IssuedToken
from app.openim import SECONDS_PER_DAY
from app.rules import tokens, users
from app.rules.access import require_secret
from app.web.route_docs import documented
from app.web.v3.answers import success
from app.web.v3.gate import load_body
from app.web.v3.schemas import (
    ForceLogoutSchema,
    GetAdminTokenSchema,
    GetUserTokenSchema,
    ParsedTokenSchema,
    ParseTokenSchema,
    TokenAnswerSchema,
    force_logout_schema,
    get_admin_token_schema,
    get_user_token_schema,
    parse_token_schema,
)

bp = Blueprint("auth", __name__, url_prefix="/auth")


def token_answer(issued: IssuedToken) -> dict:
    # expireTimeSeconds is the lifetime, not a date, as OpenIM v3's auth service answers it.
    return {
        "token": issued.token,
        "expireTimeSeconds": current_app.config["OPENIM_TOKEN_EXPIRE_DAYS"] * SECONDS_PER_DAY,
    }


@bp.post("/get_admin_token")
@documented(
    "Issue an admin token",
    request=GetAdminTokenSchema,
    data=TokenAnswerSchema,
    errors=(SecretMismatch, DatabaseUnavailable),
)
def get_admin_token():
    """A platform-10 token for `userID`, which must be in OPENIM_MANAGER_UIDS (else 1001); a wrong
    secret is 1002. The admin need not be registered."""
    fields = load_body(get_admin_token_schema)
    require_secret(fields["secret"])
    return success(token_answer(users.issue_admin_token(fields["user_id"])))


@bp.post("/get_user_token")
@documented(
    "Issue a user token (admin)",
    request=GetUserTokenSchema,
    data=TokenAnswerSchema,
    errors=(InvalidToken, NoPermission, UserNotFound, DatabaseUnavailable),
    token_header="required",
)
def get_user_token():
    """An OpenIM v3 token for `userID` on `platformID`, recorded. Platform 10 or an admin's userID is
    1002, an unknown user 1004, a notification or bot account (appMangerLevel ≥ 3) 1001."""
    fields = load_body(get_user_token_schema)
    return success(token_answer(users.issue_v3_user_token(fields["user_id"], fields["platform_id"])))


@bp.post("/parse_token")
@documented(
    "Check a token",
    request=ParseTokenSchema,
    data=ParsedTokenSchema,
    errors=(InvalidToken, DatabaseUnavailable),
)
def parse_token():
    """Verifies the body's `token`: signature, expiry, and its record (issued here, not kicked)."""
    fields = load_body(parse_token_schema)
    owner = tokens.check(fields["token"], tokens.V3)
    return success({"userID": owner.user_id, "platformID": owner.platform, "expireTimeSeconds": owner.expires_at})


@bp.post("/force_logout")
@documented(
    "Kick a user's tokens on one platform (admin)",
    request=ForceLogoutSchema,
    errors=(InvalidToken, NoPermission, UserNotFound, DatabaseUnavailable),
    token_header="required",
)
def force_logout():
    """Marks kicked every token of `userID` on `platformID` issued so far, of either dialect."""
    fields = load_body(force_logout_schema)
    users.kick_user(fields["user_id"], fields["platform_id"])
    return success()
