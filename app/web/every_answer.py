"""What every answer gets on its way out, in one pass: the operationID header, the metrics, the log line.

One after_request hook instead of one per concern, and one timer for the log
line and the latency histogram: the request's own creation time (TimedRequest),
so no before_request hook either. The values they share (the operationID, the
dialect, the errCode) are looked up once, and the settings once per app.
"""

import time

from flask import Flask, Request, g, request

from app.web import operation_header, prometheus, request_log
from app.web.dialects import dialect_name
from app.web.request_io import operation_id_in


class TimedRequest(Request):
    """A request that knows when it began: Flask makes it first thing, as the request context is created.

    It also carries the app's MAX_CONTENT_LENGTH (set by init_app), which
    Flask's Request would otherwise look up through current_app on each of
    the several reads that reading a body makes.
    """

    def __init__(self, environ, *args, **kwargs):
        self.started = time.perf_counter()
        super().__init__(environ, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.request_class = type(
        "TimedRequest", (TimedRequest,), {"_max_content_length": app.config.get("MAX_CONTENT_LENGTH")}
    )
    counted = bool(app.config["OPENIM_METRICS"])
    json_log = app.config["OPENIM_LOG_FORMAT"] == "json"

    def finish(response):
        # Each of Flask's proxies resolved once: every attribute read through one is a lookup of its own.
        current, app_globals = request._get_current_object(), g._get_current_object()
        elapsed = time.perf_counter() - current.started
        caller_operation_id = operation_id_in(app_globals, current)
        operation_header.add_operation_id(response, caller_operation_id)
        dialect, err_code, status = dialect_name(app_globals), app_globals.get("err_code"), response.status_code
        if counted:
            rule = current.url_rule
            prometheus.count_request(None if rule is None else rule.rule, dialect, err_code, status, elapsed)
        request_log.log_request(json_log, caller_operation_id, current.path, dialect, err_code, status, elapsed)
        return response

    app.after_request(finish)
