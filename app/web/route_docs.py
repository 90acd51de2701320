"""How a route describes itself for the OpenAPI document: a decorator next to the view.

    @bp.post("/user_token")
    @documented("Issue a token", request=UserTokenSchema, data=TokenAnswerSchema, errors=(UserNotFound,))
    def user_token():
        \"\"\"The view's docstring is the operation's description.\"\"\"

app/web/openapi.py builds the document from these, and fails on a route without one.
"""

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from marshmallow import Schema

from app.errors import ServiceError


@dataclass(frozen=True)
class RouteDoc:
    """What the code of a route cannot tell about it by itself."""

    summary: str
    description: str
    # The schema that loads the body; None: the route reads no body.
    request: type[Schema] | None
    # `data` of a success answer: a Schema class, a JSON Schema (may hold Schema classes), or None for null.
    data: type[Schema] | dict | None
    # The failures the route answers with, besides bad input, 413 and 500.
    errors: tuple[type[ServiceError], ...] = ()
    # The `token` header: None when the route ignores it.
    token_header: Literal["required", "optional"] | None = None
    # False for a route that answers a bare document rather than the envelope.
    enveloped: bool = True
    # JSON Schema keywords for the body that the marshmallow fields cannot carry.
    body_rules: dict | None = None
    # What a success answers when it is not the envelope: a JSON document, or text (GET /metrics).
    media_type: str = "application/json"


def documented(
    summary: str,
    *,
    request: type[Schema] | None = None,
    data: type[Schema] | dict | None = None,
    errors: tuple[type[ServiceError], ...] = (),
    token_header: Literal["required", "optional"] | None = None,
    enveloped: bool = True,
    body_rules: dict | None = None,
    media_type: str = "application/json",
) -> Callable:
    """Attach a RouteDoc to a view; its docstring becomes the description. Put it under the route decorator."""

    def decorate(view: Callable) -> Callable:
        view.route_doc = RouteDoc(
            summary,
            inspect.cleandoc(view.__doc__ or ""),
            request,
            data,
            errors,
            token_header,
            enveloped,
            body_rules,
            media_type,
        )
        return view

    return decorate


def route_doc(view: Callable) -> RouteDoc | None:
    return getattr(view, "route_doc", None)


# Go's EqualFold also matches these non-ASCII letters to ASCII ones (app/wire_format/go_json.py fold_key).
_FOLDS_TO = {"s": "\u017f", "k": "\u212a"}


def spellings_pattern(key: str) -> str:
    """A regex for every key that binds to `key`: the same letters in any case (docs/api-v2.md)."""
    classes = []
    for char in key.lower():
        if char.isalpha():
            classes.append(f"[{char}{char.upper()}{_FOLDS_TO.get(char, '')}]")
        else:
            classes.append(re.escape(char))
    return "^" + "".join(classes) + "$"


def paging_rule(given: str, needed: str) -> dict:
    """A body rule: `given` set requires `needed` set, in any spelling; null counts as absent."""

    def set_in_some_spelling(key: str) -> dict:
        return {"not": {"patternProperties": {spellings_pattern(key): {"type": "null"}}}}

    return {"if": set_in_some_spelling(given), "then": set_in_some_spelling(needed)}
