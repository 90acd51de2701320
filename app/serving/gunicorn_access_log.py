"""gunicorn's access log, its request-controlled values escaped as the app's own log lines are.

gunicorn writes the path (decoded: `%0A` is a newline), the request line and
headers as they came, escaping only `"`: a request could end a line of the
access log and forge the next. app/serving/gunicorn_settings.py names this logger class.
"""

from gunicorn.glogging import Logger, SafeAtoms

from app.serving.log_safety import PATH_LIMIT, escaped


class EscapedAtoms(SafeAtoms):
    """The values of an access log line, each escaped and capped (quotes too, for the quoted fields)."""

    def __init__(self, atoms: dict):
        dict.__init__(self)
        for key, value in atoms.items():
            self[key] = escaped(value, PATH_LIMIT) if isinstance(value, str) else value


class EscapingLogger(Logger):
    atoms_wrapper_class = EscapedAtoms
