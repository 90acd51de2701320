"""The OpenAPI 3.1 documents of the service: one per wire dialect.

GET /openapi.json describes the dialect at the root (v2, or v3 in app_v3),
GET /v3/openapi.json the v3 routes under /v3: each document holds the routes
its dialect answers, with that dialect's envelope and error table
(app/web/v3/openapi_wording.py words v3's).

Each route describes itself next to its view (app/web/route_docs.py:
`@documented(...)`, the docstring as description); request bodies come from
its marshmallow schema (through apispec), and error codes from the dialect's
error table (the dialect's answers.py). The document is built from the app's
url_map, and building it fails on a route without a description, so a new
route cannot go undocumented (tests/test_openapi.py builds it).
"""

from types import ModuleType

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify

from app import __version__
from app.errors import InvalidInput, ServiceError
from app.openim import PLATFORM_NAMES
from app.web.dialects import DIALECTS, dialect_of_path, dialect_of_request
from app.web.route_docs import RouteDoc, documented, route_doc, spellings_pattern
from app.wire_format import field_rules
from app.wire_format.schema_base import ALIASES, WireSchema

bp = Blueprint("openapi", __name__)

TITLE = "OpenIM-compatible auth service"
# Werkzeug and Flask answer these by themselves on every route.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
# Pages for people, not operations of the API: app/web/docs.py's /docs and its assets.
NOT_API_BLUEPRINTS = {"docs"}


def api_rules(app: Flask) -> list:
    """The url rules the document describes: every one but those of NOT_API_BLUEPRINTS."""
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.split(".")[0] not in NOT_API_BLUEPRINTS]


# Routes that take body `secret` or header `token` say so in their description.
CALLER_NOTE = (
    " The caller is the AppServer (body `secret`) or a user (header `token`): either suffices, a matching secret wins."
)


class UndocumentedRoute(LookupError):
    """A route of the app has no @documented description."""


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

# docs/api-v2.md: no control characters (Unicode Cc), no leading or trailing white
# space as Python's str.isspace counts it. Spelled out rather than with \s,
# whose ECMA-262 meaning differs (it includes U+FEFF).
_CONTROL = field_rules.CONTROL_CHARACTERS
_SPACE = "\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
USER_ID_PATTERN = f"^[^{_CONTROL}{_SPACE}](?:[^{_CONTROL}]*[^{_CONTROL}{_SPACE}])?$"


def bind_every_spelling(component: dict) -> None:
    """Hold every spelling of a key, and its aliases, to the key's schema.

    `properties` shows the canonical keys; `patternProperties` says that
    `USERID` or `phonenum` is not an unknown key but the same field.
    """
    properties = component["properties"]
    spellings = {spellings_pattern(key): schema for key, schema in properties.items()}
    spellings |= {spellings_pattern(alias): properties[key] for alias, key in ALIASES.items() if key in properties}
    component["patternProperties"] = spellings


def wire_rules(self, field, ret, **kwargs) -> dict:
    """apispec attribute function: the rules of app/field_rules.py that apispec cannot see."""
    rules = {}
    if field_rules.validate_user_id in field.validators:
        rules["pattern"] = USER_ID_PATTERN
    if isinstance(field.parent, WireSchema):
        if field.data_key in FIELD_DESCRIPTIONS:
            rules["description"] = FIELD_DESCRIPTIONS[field.data_key]
        if not field.required and "type" in ret:
            # WireSchema.load_wire: null for an optional field means absent.
            rules["type"] = [ret["type"], "null"]
            if "enum" in ret:
                rules["enum"] = [*ret["enum"], None]
    return rules


def error_rows(wording: ModuleType) -> list[tuple[int, int, str, str]]:
    """(errCode, HTTP status, name, errMsg) for every error answer, from the dialect's table."""
    rows = [(code, status, cls.__name__, message) for cls, (code, status, message) in wording.ERRORS.items()]
    rows.append((*wording.UNEXPECTED[:2], "ServerError", wording.UNEXPECTED[2]))
    rows += [
        (err_code, status, f"HTTP {status}", message) for status, (err_code, message) in wording.HTTP_ERRORS.items()
    ]
    return sorted(rows, key=lambda row: (row[0], row[1]))


def table_classes(failures: tuple[type[ServiceError], ...], wording: ModuleType) -> list[type[ServiceError]]:
    """The classes of the error table that the given failures stand for (a base class: all its rows)."""
    return [cls for cls in wording.ERRORS if any(issubclass(cls, failure) for failure in failures)]


def error_table(wording: ModuleType) -> str:
    lines = ["| errCode | HTTP | name | errMsg |", "|---|---|---|---|", '| 0 | 200 | success | "" |']
    lines += [f"| {code} | {status} | {name} | {message} |" for code, status, name, message in error_rows(wording)]
    return "\n".join(lines)


def json_content(schema) -> dict:
    return {"application/json": {"schema": schema}}


def error_responses(route: RouteDoc, wording: ModuleType, success: dict) -> dict:
    """HTTP status -> response, each listing the errCodes it carries on this route.

    A dialect that answers failures with HTTP 200 (v3) documents them under
    "200" beside the success answer.
    """
    by_status: dict[int, list[tuple[int, str]]] = {}
    failures = [*route.errors]
    if route.request is not None or wording.HEADERS_CHECKED_ON_EVERY_ROUTE:
        failures.append(InvalidInput)
    if route.request is not None:
        too_large_code, too_large_message = wording.HTTP_ERRORS[413]
        by_status.setdefault(413, []).append((too_large_code, too_large_message))
    unexpected_code, unexpected_status, unexpected_message = wording.UNEXPECTED
    by_status.setdefault(unexpected_status, []).append((unexpected_code, f"ServerError: {unexpected_message}"))
    for cls in table_classes(tuple(failures), wording):
        code, status, message = wording.ERRORS[cls]
        by_status.setdefault(status, []).append((code, f"{cls.__name__}: {message}"))
    responses = {"200": success}
    for status, outcomes in sorted(by_status.items()):
        description = "; ".join(f"{code} {text}" for code, text in sorted(set(outcomes)))
        schema = wording.error_envelope([code for code, _ in outcomes])
        if status == 200:
            # A text success (GET /metrics) beside a JSON failure: one media type each.
            success_json = success["content"].get("application/json")
            failure_schema = schema if success_json is None else {"oneOf": [success_json["schema"], schema]}
            responses["200"] = {
                "description": f"{success['description']} Or a failure: {description}",
                "content": {**success["content"], **json_content(failure_schema)},
            }
        else:
            responses[str(status)] = {"description": description, "content": json_content(schema)}
    return responses


def operation(route: RouteDoc, endpoint: str, wording: ModuleType) -> dict:
    parameters = [wording.OPERATION_ID_HEADER]
    if route.token_header is not None:
        parameters.append(
            {
                "name": "token",
                "in": "header",
                "required": route.token_header == "required",
                "description": wording.TOKEN_DESCRIPTION,
                "schema": {"type": "string"},
            }
        )
    if route.enveloped:
        success = {"description": "Success: errCode 0.", "content": json_content(wording.success_envelope(route.data))}
        responses = error_responses(route, wording, success)
    else:
        if route.media_type == "application/json":
            success = {"description": "A JSON document.", "content": json_content({"type": "object"})}
        else:
            success = {"description": "A text document.", "content": {route.media_type: {"schema": {"type": "string"}}}}
        responses = error_responses(route, wording, success) if route.errors else {"200": success}
    result = {
        "operationId": endpoint.replace(".", "_"),
        "summary": route.summary,
        "description": route.description + (CALLER_NOTE if route.token_header == "optional" else ""),
        "parameters": parameters,
        "responses": responses,
    }
    if route.request is not None:
        result["requestBody"] = {
            "required": True,
            "description": "JSON, whatever the Content-Type; keys bind case-insensitively.",
            "content": json_content(route.request),
        }
    return result


def build_document(app: Flask, dialect: str = "v2") -> dict:
    """The OpenAPI document of the routes of `app` that `dialect` serves.

    Raises UndocumentedRoute on an undocumented one.
    """
    wording = DIALECTS[dialect].wording
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title=f"{TITLE}: {wording.TITLE}",
        version=__version__,
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": wording.DESCRIPTION + error_table(wording)},
    )
    plugin.converter.add_attribute_function(wire_rules)
    documented = []
    for rule in sorted(api_rules(app), key=lambda rule: rule.rule):
        if dialect_of_path(app, rule.rule).name != dialect:
            continue
        route = route_doc(app.view_functions[rule.endpoint])
        if route is None:
            raise UndocumentedRoute(f"{rule.rule} (endpoint {rule.endpoint!r}) has no @documented description")
        documented.append(route)
        methods = sorted(rule.methods - IMPLICIT_METHODS)
        spec.path(
            path=rule.rule, operations={method.lower(): operation(route, rule.endpoint, wording) for method in methods}
        )
    document = spec.to_dict()
    components = document.get("components", {}).get("schemas", {})
    bound = set()
    for route in documented:
        if route.request is not None:
            for schema_class in wire_schemas_in(route.request):
                name = plugin.schema_name_resolver(schema_class)
                if name not in bound:
                    bind_every_spelling(components[name])
                    bound.add(name)
            components[plugin.schema_name_resolver(route.request)].update(route.body_rules or {})
    return document


def wire_schemas_in(schema_class: type) -> list[type]:
    """The schema and the schemas of the JSON objects nested in it (v3's `users`, `pagination`)."""
    found = [schema_class]
    for field in schema_class().fields.values():
        nested = getattr(getattr(field, "inner", field), "nested", None)
        if isinstance(nested, type) and issubclass(nested, WireSchema):
            found += wire_schemas_in(nested)
    return found


def document_for(app: Flask, dialect: str = "v2") -> dict:
    """Built once per app and dialect, on first use: by then every blueprint is registered."""
    documents = app.extensions.setdefault("openapi_documents", {})
    if dialect not in documents:
        documents[dialect] = build_document(app, dialect)
    return documents[dialect]


@bp.get("/openapi.json")
@documented("This document", enveloped=False)
def document():
    """The OpenAPI 3.1 description of every route of this dialect, as bare JSON (not in the envelope)."""
    return jsonify(document_for(current_app._get_current_object(), dialect_of_request().name))


def documented_routes(app: Flask) -> dict[str, RouteDoc]:
    """Endpoint -> its description, for every documented route of `app`."""
    described = {endpoint: route_doc(view) for endpoint, view in app.view_functions.items()}
    return {endpoint: doc for endpoint, doc in described.items() if doc is not None}
