"""/auth/*: load the body with a schema, check the caller, call the rules, answer."""
from app import tokens, users
from app.access import require_secret
from app.auth import bp
from app.errors import success
from app.schemas import register_schema, user_token_schema
from app.wire import load_request


def token_answer(issued: tokens.IssuedToken) -> dict:
    return {"userID": issued.user_id, "token": issued.token, "expiredTime": issued.expires_at}


@bp.post("/user_register")
def user_register():
    fields = load_request(register_schema)
    require_secret(fields.pop("secret"))
    platform = fields.pop("platform")
    operation_id = fields.pop("operation_id")
    user = users.register(fields, operation_id)
    return success(token_answer(tokens.issue_token(user.user_id, platform)))


@bp.post("/user_token")
def user_token():
    fields = load_request(user_token_schema)
    require_secret(fields["secret"])
    user = users.get_user(fields["user_id"])
    return success(token_answer(tokens.issue_token(user.user_id, fields["platform"])))
