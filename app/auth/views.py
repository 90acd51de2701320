"""/auth/*: load the body with a schema, check the caller, call the rules, answer."""
from flask import request

from app import tokens, users
from app.access import authenticate, require_secret
from app.auth import bp
from app.errors import success
from app.schemas import force_logout_schema, parse_token_schema, register_schema, user_token_schema
from app.wire import load_request


def token_answer(issued: tokens.IssuedToken) -> dict:
    return {"userID": issued.user_id, "token": issued.token, "expiredTime": issued.expires_at}


@bp.post("/user_register")
def user_register():
    fields = load_request(register_schema)
    require_secret(fields.pop("secret"))
    platform = fields.pop("platform")
    operation_id = fields.pop("operation_id")
    return success(token_answer(users.register_and_issue_token(fields, operation_id, platform)))


@bp.post("/user_token")
def user_token():
    fields = load_request(user_token_schema)
    require_secret(fields["secret"])
    return success(token_answer(users.issue_token(fields["user_id"], fields["platform"])))


@bp.post("/parse_token")
def parse_token():
    load_request(parse_token_schema)
    owner = tokens.parse_token(request.headers.get("token"))
    return success(
        {
            "ExpireTimeSeconds": owner.expires_at,
            "userID": owner.user_id,
            "platformID": owner.platform,
            "platform": tokens.PLATFORM_NAMES[owner.platform],
        }
    )


@bp.post("/force_logout")
def force_logout():
    fields = load_request(force_logout_schema)
    authenticate(fields.get("secret"), request.headers.get("token")).require_admin()
    user = users.get_user(fields["from_user_id"])
    tokens.kick_tokens(user.user_id, fields["platform"])
    return success(None)
