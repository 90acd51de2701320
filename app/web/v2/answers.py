"""OpenIM v2's answers (docs/api-v2.md): the envelope, and the error table.

Every answer, success or failure, is `{"errCode": int, "errMsg": str, "data": ...}`
with an HTTP status that mirrors its class. Nothing here ever echoes a secret,
a token, SQL or a stack trace.
"""

from flask import g
from werkzeug.exceptions import HTTPException

from app import errors

# Each failure of the rules, as v2 answers it: (errCode, HTTP status, errMsg).
# An errMsg of None says the failure's own message, which names the bad fields.
ERRORS: dict[type[errors.ServiceError], tuple[int, int, str | None]] = {
    errors.InvalidInput: (400, 400, None),
    errors.SecretMismatch: (401, 401, "secret mismatch"),
    errors.TokenExpired: (701, 401, "token is timed out, please log in again"),
    errors.TokenMalformed: (703, 401, "that's not even a token"),
    errors.TokenNotValidYet: (704, 401, "token not active yet"),
    errors.TokenUnknown: (705, 401, "couldn't handle this token"),
    errors.TokenKicked: (706, 401, "user has been kicked"),
    errors.NoPermission: (801, 403, "no permission"),
    errors.DatabaseUnavailable: (802, 503, "db failed"),
    errors.UserNotFound: (1101, 404, "user not registered"),
    errors.AlreadyRegistered: (1102, 409, "userID already registered"),
    errors.ReservedForAdmin: (1102, 409, "userID is reserved for an admin"),
}
UNEXPECTED = (500, 500, "server error")

# Statuses werkzeug raises before a view runs: (errCode, errMsg).
HTTP_ERRORS = {
    404: (404, "unknown route"),
    405: (405, "method not allowed"),
    413: (400, "request body too large"),
}


def row_for(failure: type[errors.ServiceError]) -> tuple[int, int, str | None]:
    """The table's row for a failure class, or for the nearest class it derives from."""
    for cls in failure.__mro__:
        if cls in ERRORS:
            return ERRORS[cls]
    return UNEXPECTED


def envelope(err_code: int, err_msg: str = "", data=None, http_status: int = 200):
    g._get_current_object().err_code = err_code  # resolved: cheaper than setting through the proxy
    return {"errCode": err_code, "errMsg": err_msg, "data": data}, http_status


def success(data):
    return envelope(0, "", data)


def answer_failure(failure: errors.ServiceError, data=None):
    err_code, http_status, err_msg = row_for(type(failure))
    if isinstance(failure, errors.InvalidInput) and failure.fields is not None:
        data = {"fields": failure.fields}
    return envelope(err_code, err_msg or failure.message, data, http_status)


def answer_http_error(error: HTTPException):
    err_code, message = HTTP_ERRORS.get(error.code, (error.code, error.name.lower()))
    return envelope(err_code, message, None, error.code)


def answer_unexpected(operation_id: str):
    err_code, http_status, message = UNEXPECTED
    return envelope(err_code, f"{message}, operationID={operation_id}", None, http_status)
