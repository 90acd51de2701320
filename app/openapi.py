"""The OpenAPI 3.1 document of the service, served at GET /openapi.json.

Request bodies come from the marshmallow schemas of app/schemas.py (through
apispec), the error codes from the classes of app/errors.py. What neither can
say (a summary, the `data` of a success answer, which errors a route can give)
is in ROUTES below, one entry per endpoint. The document is built from the
app's url_map, and building it fails on a route that ROUTES does not describe,
so a new route cannot go undocumented (tests/test_openapi.py builds it).
"""
import re
from dataclasses import dataclass
from typing import Literal

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import Schema, fields

from app import schemas
from app.errors import (
    HTTP_ERRORS,
    AlreadyRegistered,
    ApiError,
    ArgumentError,
    DatabaseUnavailable,
    NoPermission,
    SecretMismatch,
    TokenExpired,
    TokenKicked,
    TokenMalformed,
    TokenNotValidYet,
    TokenUnknown,
    UserNotFound,
)
from app.tokens import PLATFORM_NAMES

bp = Blueprint("openapi", __name__)

TITLE = "OpenIM-compatible auth service"
VERSION = "0.1.0"
# Werkzeug and Flask answer these by themselves on every route.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}


# Pages for people, not operations of the API: app/web/docs.py's /docs and its assets.
NOT_API_BLUEPRINTS = {"docs"}


def api_rules(app: Flask) -> list:
    """The url rules the document describes: every one but those of NOT_API_BLUEPRINTS."""
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.split(".")[0] not in NOT_API_BLUEPRINTS]


class UndocumentedRoute(LookupError):
    """A route of the app has no entry in ROUTES."""


# The `data` of success answers: documentation only, the views build these dicts.
class TokenAnswerSchema(Schema):
    userID = fields.String(required=True)
    token = fields.String(required=True, metadata={"description": "An OpenIM v2 HS256 JWT."})
    expiredTime = fields.Integer(required=True, metadata={"description": "The token's exp, unix seconds."})


class ParsedTokenSchema(Schema):
    ExpireTimeSeconds = fields.Integer(required=True, metadata={"description": "The token's exp, unix seconds."})
    userID = fields.String(required=True)
    platformID = fields.Integer(required=True)
    platform = fields.String(required=True, metadata={"enum": list(PLATFORM_NAMES.values())})


class AccountStatusSchema(Schema):
    userID = fields.String(required=True)
    accountStatus = fields.String(required=True, metadata={"enum": ["registered", "unregistered"]})


class HealthSchema(Schema):
    database = fields.String(required=True, metadata={"enum": ["ok"]})


TOKEN_ERRORS = (TokenExpired, TokenMalformed, TokenNotValidYet, TokenUnknown, TokenKicked)
# Routes that take body `secret` or header `token`: a wrong secret, or a bad token.
CALLER_ERRORS = (SecretMismatch, *TOKEN_ERRORS)
CALLER_NOTE = (
    " The caller is the AppServer (body `secret`) or a user (header `token`): either suffices,"
    " a matching secret wins."
)


# Go's EqualFold also matches these non-ASCII letters to ASCII ones (app/gojson.py fold_key).
_FOLDS_TO = {"s": "\u017f", "k": "\u212a"}


def spellings_pattern(key: str) -> str:
    """A regex for every key that binds to `key`: the same letters in any case (SPEC §2)."""
    classes = []
    for char in key.lower():
        if char.isalpha():
            classes.append(f"[{char}{char.upper()}{_FOLDS_TO.get(char, '')}]")
        else:
            classes.append(re.escape(char))
    return "^" + "".join(classes) + "$"


def paging_rule(given: str, needed: str) -> dict:
    """`given` set requires `needed` set, in any spelling; null counts as absent."""

    def set_in_some_spelling(key: str) -> dict:
        return {"not": {"patternProperties": {spellings_pattern(key): {"type": "null"}}}}

    return {"if": set_in_some_spelling(given), "then": set_in_some_spelling(needed)}


@dataclass(frozen=True)
class Route:
    """What the code cannot tell about one endpoint."""

    summary: str
    description: str
    # The schema that loads the body; None: the route reads no body.
    request: type[Schema] | None
    # `data` of a success answer: a Schema class, a JSON Schema (may hold Schema classes), or None for null.
    data: type[Schema] | dict | None
    # The ApiError classes the route answers with, besides ArgumentError, 413 and 500.
    errors: tuple[type[ApiError], ...] = ()
    # The `token` header: None when the route ignores it.
    token_header: Literal["required", "optional"] | None = None
    # False for a route that answers a bare JSON document rather than the envelope.
    enveloped: bool = True
    # JSON Schema keywords for the body that the marshmallow fields cannot carry.
    body_rules: dict | None = None


ROUTES: dict[str, Route] = {
    "auth.user_register": Route(
        "Register a user and issue a token",
        "Stores the user and answers a token for `platform`, as /auth/user_token would. An existing userID"
        " is 1102, unless the same operationID created it: then this is a retry and succeeds again.",
        schemas.RegisterSchema,
        TokenAnswerSchema,
        (SecretMismatch, AlreadyRegistered, DatabaseUnavailable),
    ),
    "auth.user_token": Route(
        "Issue a token for a registered user",
        "Mints an OpenIM v2 token for `userID` on `platform` and records it.",
        schemas.UserTokenSchema,
        TokenAnswerSchema,
        (SecretMismatch, UserNotFound, DatabaseUnavailable),
    ),
    "auth.parse_token": Route(
        "Check a token",
        "Verifies the `token` header: signature, expiry, and its record (not kicked).",
        schemas.ParseTokenSchema,
        ParsedTokenSchema,
        (*TOKEN_ERRORS, DatabaseUnavailable),
        token_header="required",
    ),
    "auth.force_logout": Route(
        "Kick a user's tokens on one platform",
        "Marks kicked every token of `fromUserID` on `platform` issued so far; manager or secret only."
        + CALLER_NOTE,
        schemas.ForceLogoutSchema,
        None,
        (*CALLER_ERRORS, NoPermission, UserNotFound, DatabaseUnavailable),
        token_header="optional",
    ),
    "user.get_users_info": Route(
        "Public profiles of users",
        "The profiles of those of `userIDList` that are registered. phoneNumber, birth and email only"
        " for the caller's own record, or for every record when the caller is a manager or the AppServer."
        + CALLER_NOTE,
        schemas.GetUsersInfoSchema,
        {"type": "array", "items": schemas.UserInfoSchema},
        (*CALLER_ERRORS, DatabaseUnavailable),
        token_header="optional",
    ),
    "user.update_user_info": Route(
        "Change a user's profile",
        "Only the fields given change; one's own profile, or anyone's for a manager or the AppServer."
        + CALLER_NOTE,
        schemas.UpdateUserInfoSchema,
        None,
        (*CALLER_ERRORS, NoPermission, UserNotFound, DatabaseUnavailable),
        token_header="optional",
    ),
    "user.account_check": Route(
        "Which userIDs are registered",
        "One entry per userID asked about; manager or secret only." + CALLER_NOTE,
        schemas.AccountCheckSchema,
        {"type": "array", "items": AccountStatusSchema},
        (*CALLER_ERRORS, NoPermission, DatabaseUnavailable),
        token_header="optional",
    ),
    "user.get_all_users_uid": Route(
        "Every registered userID",
        "Without paging fields the whole list (streamed); with pageNumber and showNumber, that page."
        " Manager or secret only." + CALLER_NOTE,
        schemas.GetAllUsersUidSchema,
        {"type": "array", "items": {"type": "string"}},
        (*CALLER_ERRORS, NoPermission, DatabaseUnavailable),
        token_header="optional",
        body_rules={"allOf": [paging_rule("pageNumber", "showNumber"), paging_rule("showNumber", "pageNumber")]},
    ),
    "health.healthz": Route(
        "Liveness and database check",
        "Runs SELECT 1 on the database and answers within a second: 200 when it answered, 503/802 when not.",
        None,
        HealthSchema,
        (DatabaseUnavailable,),
    ),
    "openapi.document": Route(
        "This document",
        "The OpenAPI 3.1 description of every route, as bare JSON (not in the envelope).",
        None,
        None,
        enveloped=False,
    ),
}

# Documentation of request fields, by JSON key, wherever they appear.
FIELD_DESCRIPTIONS = {
    "secret": "The API secret (OPENIM_SECRET).",
    "platform": "; ".join(f"{number} {name}" for number, name in PLATFORM_NAMES.items()) + ".",
    "userID": "Kept and compared exactly as sent: no case folding, no Unicode normalization.",
    "operationID": "A trace id chosen by the caller. Required here unless sent as the `operationID`"
    " header; the body wins when both are present.",
    "birth": "Unix seconds.",
    "ex": "Free-form extension.",
}

# SPEC §2: no control characters (Unicode Cc), no leading or trailing white
# space as Python's str.isspace counts it. Spelled out rather than with \s,
# whose ECMA-262 meaning differs (it includes U+FEFF).
_CONTROL = schemas.CONTROL_CHARACTERS
_SPACE = "\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
USER_ID_PATTERN = f"^[^{_CONTROL}{_SPACE}](?:[^{_CONTROL}]*[^{_CONTROL}{_SPACE}])?$"


def bind_every_spelling(component: dict) -> None:
    """Hold every spelling of a key, and its aliases, to the key's schema.

    `properties` shows the canonical keys; `patternProperties` says that
    `USERID` or `phonenum` is not an unknown key but the same field.
    """
    properties = component["properties"]
    spellings = {spellings_pattern(key): schema for key, schema in properties.items()}
    spellings |= {
        spellings_pattern(alias): properties[key] for alias, key in schemas.ALIASES.items() if key in properties
    }
    component["patternProperties"] = spellings


def wire_rules(self, field, ret, **kwargs) -> dict:
    """apispec attribute function: the rules of app/schemas.py that apispec cannot see."""
    rules = {}
    if schemas.validate_user_id in field.validators:
        rules["pattern"] = USER_ID_PATTERN
    if isinstance(field.parent, schemas.WireSchema):
        if field.data_key in FIELD_DESCRIPTIONS:
            rules["description"] = FIELD_DESCRIPTIONS[field.data_key]
        if not field.required and "type" in ret:
            # WireSchema.load_wire: null for an optional field means absent.
            rules["type"] = [ret["type"], "null"]
            if "enum" in ret:
                rules["enum"] = [*ret["enum"], None]
    return rules


def error_rows() -> list[tuple[int, int, str, str]]:
    """(errCode, HTTP status, name, errMsg) for every error answer, from app/errors.py."""
    rows = [(cls.err_code, cls.http_status, cls.__name__, cls.message) for cls in all_error_classes()]
    rows += [(err_code, status, f"HTTP {status}", message) for status, (err_code, message) in HTTP_ERRORS.items()]
    return sorted(rows, key=lambda row: (row[0], row[1]))


def all_error_classes() -> list[type[ApiError]]:
    found, pending = [ApiError], [ApiError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.append(subclass)
            pending.append(subclass)
    return found


def error_table() -> str:
    lines = ["| errCode | HTTP | name | errMsg |", "|---|---|---|---|", '| 0 | 200 | success | "" |']
    lines += [f"| {code} | {status} | {name} | {message} |" for code, status, name, message in error_rows()]
    return "\n".join(lines)


DOCUMENT_DESCRIPTION = """\
A drop-in for the auth part of an OpenIM v2 server.

Every answer (404 and 405 included) is the envelope `{"errCode": int, "errMsg": str, "data": ...}`;
errCode 0 is success, and the HTTP status mirrors the class of the outcome, but a client may read
errCode alone.

Bodies are JSON whatever their Content-Type, and are read as OpenIM's Go server reads them: keys
match case-insensitively (`USERID`, `faceUrl` bind; of two keys for one field the last wins),
`phoneNum` is accepted for `phoneNumber`, unknown keys are ignored, and `null` for an optional field
means absent. `properties` show the canonical keys, and `patternProperties` hold every other
spelling of a key to the same rules. Booleans and floats are not integers,
not even 1.0 (as in Go).
A body over the size limit (64 KiB by default) is HTTP 413 with errCode 400.

## Error codes

"""


def success_envelope(data_schema) -> dict:
    return {
        "type": "object",
        "required": ["errCode", "errMsg", "data"],
        "properties": {
            "errCode": {"const": 0},
            "errMsg": {"const": ""},
            "data": {"type": "null"} if data_schema is None else data_schema,
        },
    }


def error_envelope(err_codes: list[int]) -> dict:
    return {
        "type": "object",
        "required": ["errCode", "errMsg", "data"],
        "properties": {
            "errCode": {"enum": sorted(set(err_codes))},
            "errMsg": {"type": "string", "minLength": 1},
            "data": {"description": "null, or details: for errCode 400, `fields` maps each bad field to its problems."},
        },
    }


def json_content(schema) -> dict:
    return {"application/json": {"schema": schema}}


def error_responses(route: Route) -> dict:
    """HTTP status -> response, each listing the errCodes it carries on this route."""
    by_status: dict[int, list[tuple[int, str]]] = {}
    error_classes = [*route.errors, ApiError]
    if route.request is not None:
        error_classes.append(ArgumentError)
        too_large_code, too_large_message = HTTP_ERRORS[413]
        by_status.setdefault(413, []).append((too_large_code, too_large_message))
    for cls in error_classes:
        by_status.setdefault(cls.http_status, []).append((cls.err_code, f"{cls.__name__}: {cls.message}"))
    return {
        str(status): {
            "description": "; ".join(f"{code} {text}" for code, text in sorted(set(outcomes))),
            "content": json_content(error_envelope([code for code, _ in outcomes])),
        }
        for status, outcomes in sorted(by_status.items())
    }


def operation(route: Route, endpoint: str) -> dict:
    parameters = [
        {
            "name": "operationID",
            "in": "header",
            "required": False,
            "description": "The caller's trace id, for clients that cannot send it in the body (OpenIM v3):"
            " used only when the body has none, and then held to the body field's rules.",
            "schema": {"type": "string"},
        }
    ]
    if route.token_header is not None:
        parameters.append(
            {
                "name": "token",
                "in": "header",
                "required": route.token_header == "required",
                "description": "A login token, as /auth/user_token answers it.",
                "schema": {"type": "string"},
            }
        )
    if route.enveloped:
        success = {"description": "Success: errCode 0.", "content": json_content(success_envelope(route.data))}
    else:
        success = {"description": "A JSON document.", "content": json_content({"type": "object"})}
    result = {
        "operationId": endpoint.replace(".", "_"),
        "summary": route.summary,
        "description": route.description,
        "parameters": parameters,
        "responses": {"200": success, **(error_responses(route) if route.enveloped else {})},
    }
    if route.request is not None:
        result["requestBody"] = {
            "required": True,
            "description": "JSON, whatever the Content-Type; keys bind case-insensitively.",
            "content": json_content(route.request),
        }
    return result


def build_document(app: Flask) -> dict:
    """The OpenAPI document of every route of `app`; raises UndocumentedRoute on one missing from ROUTES."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": DOCUMENT_DESCRIPTION + error_table()},
    )
    plugin.converter.add_attribute_function(wire_rules)
    documented = []
    for rule in sorted(api_rules(app), key=lambda rule: rule.rule):
        route = ROUTES.get(rule.endpoint)
        if route is None:
            raise UndocumentedRoute(f"{rule.rule} (endpoint {rule.endpoint!r}) is missing from app.openapi.ROUTES")
        documented.append(route)
        methods = sorted(rule.methods - IMPLICIT_METHODS)
        spec.path(path=rule.rule, operations={method.lower(): operation(route, rule.endpoint) for method in methods})
    document = spec.to_dict()
    components = document.get("components", {}).get("schemas", {})
    for route in documented:
        if route.request is not None:
            component = components[plugin.schema_name_resolver(route.request)]
            bind_every_spelling(component)
            component.update(route.body_rules or {})
    return document


def document_for(app: Flask) -> dict:
    """Built once per app, on first use: by then every blueprint is registered."""
    if "openapi_document" not in app.extensions:
        app.extensions["openapi_document"] = build_document(app)
    return app.extensions["openapi_document"]


@bp.get("/openapi.json")
def document():
    return jsonify(document_for(current_app._get_current_object()))
