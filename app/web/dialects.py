"""Which wire dialect answers a request: by the URL prefix it came to.

A dialect is the skin over the one set of rules: its envelope and its error
table. Unknown routes and wrong methods get the envelope of the dialect whose
prefix the URL has, so a v3 client's typo gets a v3 answer.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, g, request

from app.web.v2 import answers as v2_errors
from app.web.v3 import answers as v3_errors


@dataclass(frozen=True)
class Dialect:
    name: str
    answer_failure: Callable
    answer_http_error: Callable
    answer_unexpected: Callable


V2 = Dialect("v2", v2_errors.answer_failure, v2_errors.answer_http_error, v2_errors.answer_unexpected)
V3 = Dialect("v3", v3_errors.answer_failure, v3_errors.answer_http_error, v3_errors.answer_unexpected)
# Where each dialect is served besides the root: a v3 client is given http://HOST:10000/v3.
V3_PREFIX = "/v3"


def serve_dialect(app: Flask, prefix: str, dialect: Dialect) -> None:
    """Requests under `prefix` ('' for the root) are answered in `dialect`; the longest prefix wins."""
    served = app.extensions.setdefault("openim_dialects", [])
    served.append((prefix, dialect))
    served.sort(key=lambda entry: len(entry[0]), reverse=True)


def dialect_of_path(app: Flask, path: str) -> Dialect:
    for prefix, dialect in app.extensions.get("openim_dialects", ()):
        if path == prefix or path.startswith(prefix + "/"):
            return dialect
    return V2


def dialect_of_request() -> Dialect:
    dialect = dialect_of_path(current_app, request.path)
    g.dialect = dialect.name
    return dialect


def dialect_name() -> str:
    """The name of the dialect that answered (or answers) this request, for its log line and metrics."""
    return g.get("dialect") or dialect_of_request().name
