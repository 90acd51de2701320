"""OPENIM_LOG_FORMAT: the readable line (text, the default) or one JSON object per record (json).

The JSON objects carry time (ISO 8601, UTC), level, logger, pid and message,
plus whatever fields a record was given (`extra=`): the request log adds
operationID, route, dialect, errCode, status and duration_ms. JSON
serialization escapes control characters (and here all of non-ASCII), so
no value can break a line or forge one; the operationID and route are cut
as in the text format (app/serving/log_safety.py), so none can flood it.
"""

import logging

from flask.logging import default_handler, wsgi_errors_stream
from pythonjsonlogger.json import JsonFormatter


def json_formatter() -> logging.Formatter:
    """The JSON objects of every record, the app's and (through app/serving/gunicorn_settings.py) gunicorn's."""
    return JsonFormatter(
        "{levelname}{name}{process}{message}",
        style="{",
        timestamp="time",
        rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
        # Everything beyond ASCII as \u escapes: U+2028 or NEL would end a line for some readers.
        json_ensure_ascii=True,
    )


class TextFormatter(logging.Formatter):
    """A text format whose time is written once per second rather than once per line.

    With a date format (gunicorn's is `[%Y-%m-%d %H:%M:%S %z]`), a line's
    time depends on its whole second alone: strftime has no finer field, and
    the UTC offset changes only on a whole second.
    """

    def __init__(self, fmt: str | None = None, datefmt: str | None = None):
        super().__init__(fmt, datefmt)
        self._last_time: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        if datefmt != self.datefmt or not datefmt:
            return super().formatTime(record, datefmt)
        second, text = self._last_time
        if int(record.created) != second:
            text = super().formatTime(record, datefmt)
            self._last_time = (int(record.created), text)  # one assignment: a second thread sees either pair
        return text


class JsonHandler(logging.StreamHandler):
    """The app's handler outside gunicorn (flask run, the CLI, tests) under OPENIM_LOG_FORMAT=json."""

    def __init__(self):
        super().__init__(wsgi_errors_stream)
        self.setFormatter(json_formatter())


def use_format(logger: logging.Logger, log_format: str, under_gunicorn: bool) -> None:
    """Give the app's logger a JSON handler outside gunicorn when asked; take it away when not.

    The "app" logger outlives each app (tests build many), hence the clean-up.
    """
    earlier = [handler for handler in logger.handlers if isinstance(handler, JsonHandler)]
    for handler in earlier:
        logger.removeHandler(handler)
    if log_format == "json" and not under_gunicorn:
        logger.removeHandler(default_handler)
        logger.addHandler(JsonHandler())
    elif earlier and not under_gunicorn:
        logger.addHandler(default_handler)
