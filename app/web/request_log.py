"""One log line per request: its operationID, route, errCode and duration.

Never the body, headers or query string, so that no secret or token is logged.
"""
import logging
import time

from flask import Flask, g, request

from app.web.log_safety import PATH_LIMIT, escaped, quoted
from app.web.wire import operation_id

logger = logging.getLogger(__name__)


def start_timer() -> None:
    g.started = time.perf_counter()


def log_request(response):
    if not logger.isEnabledFor(logging.INFO):
        return response
    elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
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
