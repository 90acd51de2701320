"""How the OpenAPI document words OpenIM v3's answers (app/web/openapi.py builds it)."""

from app.web.v3 import answers

TITLE = "OpenIM v3"
# The operationID header (and on most routes the token header) is checked before every route.
HEADERS_CHECKED_ON_EVERY_ROUTE = True

DESCRIPTION = """\
OpenIM v3's API (openimsdk/open-im-server v3.8+) over the same users and token records as v2.

Every answer is `{"errCode": int, "errMsg": str, "errDlt": str, "data": ...}` with HTTP 200,
whatever errCode says, but for route-level 404/405/413 and 503 (errCode 500) when the database is
unavailable. errCode 0 is success; errMsg names the code; errDlt names the bad field. `data` is
left out when there is none, and inside it every field at its zero value (0, "", empty list) is
left out, as Go's omitempty does.

Every route requires the header `operationID`, and all but get_admin_token and parse_token the
header `token` (an admin's or a user's OpenIM v3 token): a missing header is 1001. Bodies are read
as in v2: JSON whatever the Content-Type, keys case-insensitive (in nested objects too), unknown
keys ignored, `null` for an optional field absent.

## Error codes

"""
TOKEN_DESCRIPTION = "An OpenIM v3 token, as /auth/get_admin_token or /auth/get_user_token answers it."

# Failure class -> (errCode, HTTP status, errMsg), the shape app/web/openapi.py reads.
ERRORS = {cls: (code, status, name) for cls, (code, name, status) in answers.ERRORS.items()}
UNEXPECTED = (answers.UNEXPECTED[0], answers.UNEXPECTED[2], answers.UNEXPECTED[1])
HTTP_ERRORS = {status: (code, name) for status, (code, name, _) in answers.HTTP_ERRORS.items()}

_HEADER_FIELDS = ["errCode", "errMsg", "errDlt"]


def success_envelope(data_schema) -> dict:
    envelope = {
        "type": "object",
        "required": _HEADER_FIELDS,
        "properties": {"errCode": {"const": 0}, "errMsg": {"const": ""}, "errDlt": {"const": ""}},
    }
    if data_schema is None:
        envelope["not"] = {"required": ["data"]}
    else:
        envelope["properties"]["data"] = data_schema
    return envelope


def error_envelope(err_codes: list[int]) -> dict:
    return {
        "type": "object",
        "required": _HEADER_FIELDS,
        "properties": {
            "errCode": {"enum": sorted(set(err_codes))},
            "errMsg": {"type": "string", "minLength": 1},
            "errDlt": {"type": "string", "description": "The detail: which field or header, and why."},
        },
        "not": {"required": ["data"]},
    }


OPERATION_ID_HEADER = {
    "name": "operationID",
    "in": "header",
    "required": True,
    "description": "The caller's trace id, on every request; a batch user_register retried with the"
    " same one succeeds again.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}
