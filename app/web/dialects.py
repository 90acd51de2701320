"""Which wire dialect answers a request: by the URL prefix it came to.

A dialect is the skin over the one set of rules: its envelope and its error
table. Unknown routes and wrong methods get the envelope of the dialect whose
prefix the URL has, so a v3 client's typo gets a v3 answer.
"""

from dataclasses import dataclass
from types import ModuleType

from flask import Flask, current_app, g, request
from flask.ctx import _AppCtxGlobals

from app.web.v2 import answers as v2_answers
from app.web.v2 import openapi_wording as v2_wording
from app.web.v3 import answers as v3_answers
from app.web.v3 import openapi_wording as v3_wording


@dataclass(frozen=True)
class Dialect:
    name: str
    answers: ModuleType  # success, answer_failure, answer_http_error, answer_unexpected
    wording: ModuleType  # how the OpenAPI document words its answers


V2 = Dialect("v2", v2_answers, v2_wording)
V3 = Dialect("v3", v3_answers, v3_wording)
DIALECTS = {dialect.name: dialect for dialect in (V2, V3)}
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
    # Each of Flask's proxies resolved once: every attribute read through one is a lookup of its own.
    dialect = dialect_of_path(current_app._get_current_object(), request._get_current_object().path)
    g._get_current_object().dialect = dialect.name
    return dialect


def dialect_name(app_globals: _AppCtxGlobals) -> str:
    """The name of the dialect that answered (or answers) this request, for its log line and metrics.

    `app_globals` is flask.g, resolved by the caller (web/every_answer.py).
    """
    return app_globals.get("dialect") or dialect_of_request().name
