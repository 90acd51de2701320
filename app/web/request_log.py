"""One log line per request: its operationID, route, errCode and duration.

Never the body, headers or query string, so that no secret or token is logged.
With OPENIM_LOG_FORMAT=json the line is a JSON object with these as fields,
and the dialect, HTTP status and worker pid besides (app/serving/log_format.py).
"""

import logging
import time

from flask import Flask, current_app, g, request

from app.serving.log_safety import OPERATION_ID_LIMIT, PATH_LIMIT, cut, escaped, quoted
from app.web.dialects import dialect_name
from app.web.request_io import operation_id

logger = logging.getLogger(__name__)


def start_timer() -> None:
    g.started = time.perf_counter()


def elapsed_seconds() -> float:
    """Since the request began; also what GET /metrics reports as its duration."""
    return time.perf_counter() - g.get("started", time.perf_counter())


def log_request(response):
    if not logger.isEnabledFor(logging.INFO):
        return response
    elapsed_ms = elapsed_seconds() * 1000
    if current_app.config["OPENIM_LOG_FORMAT"] == "json":
        logger.info(
            "request",
            extra={
                # Cut as the text line cuts them; the JSON serializer escapes.
                "operationID": cut(operation_id(), OPERATION_ID_LIMIT),
                "route": cut(request.path, PATH_LIMIT),
                "dialect": dialect_name(),
                "errCode": g.get("err_code"),
                "status": response.status_code,
                "duration_ms": round(elapsed_ms, 1),
            },
        )
        return response
    logger.info(
        "operationID=%s route=%s errCode=%s duration=%.1fms",
        quoted(operation_id()),
        escaped(request.path, PATH_LIMIT, escape_space=True),
        g.get("err_code", "-"),
        elapsed_ms,
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(start_timer)
    app.after_request(log_request)
