"""One log line per request: its operationID, route, errCode and duration.

Never the body, headers or query string, so that no secret or token is logged.
With OPENIM_LOG_FORMAT=json the line is a JSON object with these as fields,
and the dialect, HTTP status and worker pid besides (app/serving/log_format.py).
Written by web/every_answer.py, which times the request once for this line and the metrics.
"""

import logging

from app.serving.log_safety import OPERATION_ID_LIMIT, PATH_LIMIT, cut, escaped, quoted

logger = logging.getLogger(__name__)
TEXT_LINE = "operationID=%s route=%s errCode=%s duration=%.1fms"


def log_request(
    as_json: bool, operation_id: str, path: str, dialect: str, err_code, status: int, elapsed_seconds: float
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    elapsed_ms = elapsed_seconds * 1000
    if as_json:
        logger.info(
            "request",
            extra={
                # Cut as the text line cuts them; the JSON serializer escapes.
                "operationID": cut(operation_id, OPERATION_ID_LIMIT),
                "route": cut(path, PATH_LIMIT),
                "dialect": dialect,
                "errCode": err_code,
                "status": status,
                "duration_ms": round(elapsed_ms, 1),
            },
        )
        return
    arguments = (
        quoted(operation_id),
        escaped(path, PATH_LIMIT, escape_space=True),
        "-" if err_code is None else err_code,
        elapsed_ms,
    )
    # The record made here, where logger.info would look for its caller up the stack on every request.
    logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, TEXT_LINE, arguments, None, "log_request"))
