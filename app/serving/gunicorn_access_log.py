"""gunicorn's logger: its access log's request-controlled values escaped as the app's own log lines are.

gunicorn writes the path (decoded: `%0A` is a newline), the request line and
headers as they came, escaping only `"`: a request could end a line of the
access log and forge the next. Its error log, through which the app writes a
line per request, formats the time once per second (log_format.TextFormatter).
app/serving/gunicorn_settings.py names this logger class.
"""

import logging

from gunicorn.glogging import Logger, SafeAtoms

from app.serving.log_format import TextFormatter
from app.serving.log_safety import PATH_LIMIT, escaped


class EscapedAtoms(SafeAtoms):
    """The values of an access log line, each escaped and capped (quotes too, for the quoted fields)."""

    def __init__(self, atoms: dict):
        dict.__init__(self)
        for key, value in atoms.items():
            self[key] = escaped(value, PATH_LIMIT) if isinstance(value, str) else value


class EscapingLogger(Logger):
    atoms_wrapper_class = EscapedAtoms

    def setup(self, cfg):
        super().setup(cfg)
        # The error log, which carries the app's line per request, formats its time once per second.
        for handler in self.error_log.handlers:
            if type(handler.formatter) is logging.Formatter:
                handler.setFormatter(TextFormatter(self.error_fmt, self.datefmt))
