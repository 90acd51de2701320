"""App-level handlers: every failure, on every route (404 and 405 included), in its dialect's envelope.

The rules raise plain exceptions (app/errors.py); the dialect whose URL the
request came to (see app/web/dialects.py) words the answer. Database failures
are logged here, by class and driver code only: the statement and its
parameters stay out of the log.
"""

import logging

from flask import Flask, Response, current_app, g
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

from app.checkout_or_installed import admin_command
from app.errors import DatabaseNotSetUp, DatabaseUnavailable, ServiceError
from app.serving.log_safety import quoted
from app.storage.database import is_missing_schema
from app.web.dialects import dialect_of_request
from app.web.request_io import operation_id

logger = logging.getLogger(__name__)
JSON = "application/json"


def handle_service_error(error: ServiceError):
    return dialect_of_request().answers.answer_failure(error)


# (answers, HTTP code, name) → the envelope's bytes, status and errCode: every unknown route
# answers the same bytes, encoded once per dialect rather than once per request.
_http_error_bytes: dict[tuple, tuple[bytes, int, int]] = {}


def handle_http_error(error: HTTPException):
    answers = dialect_of_request().answers
    key = (answers, error.code, error.name)
    known = _http_error_bytes.get(key)
    if known is None:
        envelope, status = answers.answer_http_error(error)
        known = _http_error_bytes[key] = (current_app.json.dumps(envelope).encode(), status, envelope["errCode"])
    body, status, g._get_current_object().err_code = known
    # Keep werkzeug's headers (a 405 must carry Allow, RFC 9110), not its HTML Content-Type.
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    return Response(body, status, headers, mimetype=JSON)


def handle_database_error(error: Exception):
    if is_missing_schema(error):
        fix = f"run `{admin_command('db upgrade')}`"
        logger.error("database has no schema: %s (operationID=%s)", fix, quoted(operation_id()))
        return handle_service_error(DatabaseNotSetUp(f"{DatabaseNotSetUp.message}; {fix}"))
    driver_args = getattr(getattr(error, "orig", None), "args", None) or ("",)
    logger.error(
        "database failed: %s %s (operationID=%s)",
        type(error).__name__,
        driver_args[0],
        quoted(operation_id()),
    )
    return handle_service_error(DatabaseUnavailable())


def handle_server_error(error: InternalServerError):
    original = error.original_exception or error
    logger.error(
        "unexpected %s (operationID=%s)",
        type(original).__name__,
        quoted(operation_id()),
        exc_info=original,
    )
    return dialect_of_request().answers.answer_unexpected(operation_id())


def init_app(app: Flask) -> None:
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(sa_exc.DBAPIError, handle_database_error)
    app.register_error_handler(sa_exc.TimeoutError, handle_database_error)
