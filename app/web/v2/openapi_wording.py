"""How the OpenAPI document words OpenIM v2's answers (app/web/openapi.py builds it)."""

from app.web.v2 import answers

TITLE = "OpenIM v2"
# v2 reads operationID from the body: routes without one check no header.
HEADERS_CHECKED_ON_EVERY_ROUTE = False

DESCRIPTION = """\
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


TOKEN_DESCRIPTION = "A login token, as /auth/user_token answers it."

# Failure class -> (errCode, HTTP status, errMsg), the shape app/web/openapi.py reads.
ERRORS = {cls: (code, status, message or cls.message) for cls, (code, status, message) in answers.ERRORS.items()}
UNEXPECTED = answers.UNEXPECTED
HTTP_ERRORS = answers.HTTP_ERRORS

OPERATION_ID_HEADER = {
    "name": "operationID",
    "in": "header",
    "required": False,
    "description": "The caller's trace id, for clients that cannot send it in the body (OpenIM v3):"
    " used only when the body has none, and then held to the body field's rules.",
    "schema": {"type": "string"},
}
