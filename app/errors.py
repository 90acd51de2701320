"""The error table of SPEC §5, the envelope, and the app-level handlers.

Every answer, on every route and for every failure, is
`{"errCode": int, "errMsg": str, "data": ...}` with an HTTP status that mirrors
its class. Nothing here ever echoes a secret, a token, SQL or a stack trace.
"""
import json
import logging
import time

from flask import Flask, g, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than success; subclasses are the rows of the table."""

    err_code = 500
    http_status = 500
    message = "server error"

    def __init__(self, message: str | None = None, data=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.data = data


# errCode                                                          HTTP
class ArgumentError(ApiError):        err_code, http_status, message = 400, 400, "invalid arguments"
class SecretMismatch(ApiError):       err_code, http_status, message = 401, 401, "secret mismatch"
class TokenExpired(ApiError):         err_code, http_status, message = 701, 401, "token is timed out, please log in again"
class TokenMalformed(ApiError):       err_code, http_status, message = 703, 401, "that's not even a token"
class TokenNotValidYet(ApiError):     err_code, http_status, message = 704, 401, "token not active yet"
class TokenUnknown(ApiError):         err_code, http_status, message = 705, 401, "couldn't handle this token"
class TokenKicked(ApiError):          err_code, http_status, message = 706, 401, "user has been kicked"
class NoPermission(ApiError):         err_code, http_status, message = 801, 403, "no permission"
class DatabaseUnavailable(ApiError):  err_code, http_status, message = 802, 503, "db failed"
class UserNotFound(ApiError):         err_code, http_status, message = 1101, 404, "user not registered"
class AlreadyRegistered(ApiError):    err_code, http_status, message = 1102, 409, "userID already registered"

# Status codes werkzeug raises before a view runs, mapped onto errCodes.
HTTP_ERRORS = {
    404: (404, "unknown route"),
    405: (405, "method not allowed"),
    413: (400, "request body too large"),
}


def envelope(err_code: int, err_msg: str = "", data=None, http_status: int = 200):
    g.err_code = err_code
    return {"errCode": err_code, "errMsg": err_msg, "data": data}, http_status


def success(data):
    return envelope(0, "", data)


def operation_id() -> str:
    """The caller's operationID as far as it is known: body first, then header."""
    return g.get("operation_id") or request.headers.get("operationID", "")


def handle_api_error(error: ApiError):
    return envelope(error.err_code, error.message, error.data, error.http_status)


def handle_http_error(error: HTTPException):
    err_code, message = HTTP_ERRORS.get(error.code, (error.code, error.name.lower()))
    # Keep werkzeug's headers (a 405 must carry Allow, RFC 9110), not its HTML Content-Type.
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    return *envelope(err_code, message, None, error.code), headers


def handle_database_error(error: Exception):
    # The class and the driver's error code are enough to diagnose; the
    # statement and its parameters stay out of the log.
    driver_args = getattr(getattr(error, "orig", None), "args", None) or ("",)
    logger.error(
        "database failed: %s %s (operationID=%s)",
        type(error).__name__,
        driver_args[0],
        json.dumps(operation_id()),
    )
    return handle_api_error(DatabaseUnavailable())


def handle_server_error(error: InternalServerError):
    original = error.original_exception or error
    logger.error(
        "unexpected %s (operationID=%s)",
        type(original).__name__,
        json.dumps(operation_id()),
        exc_info=original,
    )
    return envelope(500, f"server error, operationID={operation_id()}", None, 500)


def start_timer():
    g.started = time.perf_counter()


def log_request(response):
    if not logger.isEnabledFor(logging.INFO):
        return response
    elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    logger.info(
        "operationID=%s route=%s errCode=%s duration=%.1fms",
        json.dumps(operation_id(), ensure_ascii=False),
        request.path,
        g.get("err_code", "-"),
        elapsed_ms,
    )
    return response


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(sa_exc.DBAPIError, handle_database_error)
    app.register_error_handler(sa_exc.TimeoutError, handle_database_error)
    app.before_request(start_timer)
    app.after_request(log_request)
