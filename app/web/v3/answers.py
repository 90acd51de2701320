"""OpenIM v3's answers (docs/api-v3.md): the envelope, and the error table.

As openimsdk/tools apiresp.ApiResponse writes them: `{"errCode", "errMsg",
"errDlt", "data"}`, `data` left out when there is none (`json:"data,omitempty"`),
and inside `data` every field holding its zero value left out, as the
`omitempty` of protoc-gen-go's struct tags does. HTTP 200 whatever errCode
says, but for route-level 404/405/413 and 503 for an unavailable database.
errMsg is the code's name (openimsdk/tools errs/predefine.go, open-im-server
pkg/common/servererrs/code.go); errDlt the detail, which names the bad field
and never holds a secret, a token or SQL.
"""

from flask import g
from werkzeug.exceptions import HTTPException

from app import errors

# Each failure of the rules, as v3 answers it: (errCode, errMsg, HTTP status).
ERRORS: dict[type[errors.ServiceError], tuple[int, str, int]] = {
    errors.InvalidInput: (1001, "ArgsError", 200),
    errors.SecretMismatch: (1002, "NoPermissionError", 200),
    errors.NoPermission: (1002, "NoPermissionError", 200),
    errors.UserNotFound: (1004, "RecordNotFoundError", 200),
    errors.AlreadyRegistered: (1102, "RegisteredAlreadyError", 200),
    errors.TokenExpired: (1501, "TokenExpiredError", 200),
    errors.TokenMalformed: (1503, "TokenMalformedError", 200),
    errors.TokenNotValidYet: (1504, "TokenNotValidYetError", 200),
    errors.TokenUnknown: (1505, "TokenUnknownError", 200),
    errors.TokenKicked: (1506, "TokenKickedError", 200),
    errors.TokenNotRecorded: (1507, "TokenNotExistError", 200),
    errors.DatabaseUnavailable: (500, "ServerInternalError", 503),
}
UNEXPECTED = (500, "ServerInternalError", 500)

# Statuses werkzeug raises before a view runs: (errCode, errMsg, errDlt).
HTTP_ERRORS = {
    404: (404, "NotFoundError", "unknown route"),
    405: (405, "MethodNotAllowedError", "method not allowed"),
    413: (1001, "ArgsError", "request body too large"),
}


def row_for(failure: type[errors.ServiceError]) -> tuple[int, str, int]:
    """The table's row for a failure class, or for the nearest class it derives from."""
    for cls in failure.__mro__:
        if cls in ERRORS:
            return ERRORS[cls]
    return UNEXPECTED


def is_zero(value) -> bool:
    """Go's omitempty: false, 0, "", and an empty list or map (nil too)."""
    if value is None or value is False:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    return False


def omit_zero_values(value):
    """`value` with every zero-valued field of every object in it left out."""
    if isinstance(value, dict):
        return {key: omit_zero_values(item) for key, item in value.items() if not is_zero(item)}
    if isinstance(value, list):
        return [omit_zero_values(item) for item in value]
    return value


def envelope(err_code: int, err_msg: str = "", err_dlt: str = "", data=None, http_status: int = 200):
    g._get_current_object().err_code = err_code  # resolved: cheaper than setting through the proxy
    answer = {"errCode": err_code, "errMsg": err_msg, "errDlt": err_dlt}
    if data is not None:
        answer["data"] = omit_zero_values(data)
    return answer, http_status


def success(data=None):
    """errCode 0; `data` None (no data) leaves the key out, as ApiResponse does for an empty answer."""
    return envelope(0, "", "", data)


def answer_failure(failure: errors.ServiceError, data=None):
    err_code, err_msg, http_status = row_for(type(failure))
    return envelope(err_code, err_msg, failure.message, data, http_status)


def answer_http_error(error: HTTPException):
    err_code, err_msg, detail = HTTP_ERRORS.get(error.code, (error.code, error.name, error.name.lower()))
    return envelope(err_code, err_msg, detail, None, error.code)


def answer_unexpected(operation_id: str):
    err_code, err_msg, http_status = UNEXPECTED
    return envelope(err_code, err_msg, f"server error, operationID={operation_id}", None, http_status)
