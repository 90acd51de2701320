"""One log line per request: its operationID, route, errCode and duration.

Never the body, headers or query string, so that no secret or token is logged.
With OPENIM_LOG_FORMAT=json the line is a JSON object with these as fields,
and the dialect, HTTP status and worker pid besides (app/serving/log_format.py).
Written by web/every_answer.py, which times the request once for this line and the metrics.
"""

import logging
import os
import threading
import time

from app.serving.log_safety import OPERATION_ID_LIMIT, PATH_LIMIT, cut, escaped, quoted

logger = logging.getLogger(__name__)
TEXT_LINE = "operationID=%s route=%s errCode=%s duration=%.1fms"


class _TextRecords:
    """Records of the text line, as logger.makeRecord makes them, for a third of its cost.

    LogRecord's constructor works out the same source file, module, process
    and process name for every line; here they come from a record made once
    per process, and each line sets what is its own: the time, the thread and
    the arguments. makeRecord itself while another record factory is set.
    """

    def __init__(self):
        self._template: dict | None = None
        os.register_at_fork(after_in_child=self.forget)  # a forked worker has its own pid

    def forget(self) -> None:
        self._template = None

    def _made(self, arguments: tuple) -> logging.LogRecord:
        return logger.makeRecord(logger.name, logging.INFO, __file__, 0, TEXT_LINE, arguments, None, "log_request")

    def new(self, arguments: tuple) -> logging.LogRecord:
        if logging.getLogRecordFactory() is not logging.LogRecord:
            return self._made(arguments)
        template = self._template
        if template is None:
            template = self._template = dict(self._made(()).__dict__)
        record = object.__new__(logging.LogRecord)
        fields = record.__dict__
        fields.update(template)
        now = time.time_ns()
        fields["created"] = now / 1e9
        fields["msecs"] = (now % 1_000_000_000) // 1_000_000 + 0.0
        fields["relativeCreated"] = template["relativeCreated"] + (now / 1e6 - template["created"] * 1e3)
        fields["thread"] = threading.get_ident()
        fields["threadName"] = threading.current_thread().name
        fields["args"] = arguments
        return record


_text_records = _TextRecords()


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
    logger.handle(_text_records.new(arguments))
