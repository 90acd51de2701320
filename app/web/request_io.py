"""From HTTP request to validated dict, and from dict to Go-style JSON response."""

from flask import Request, g, request
from flask.ctx import _AppCtxGlobals
from flask.json.provider import JSONProvider
from gunicorn.http.errors import NoMoreData, ParseException
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import InvalidInput
from app.wire_format import go_json
from app.wire_format.schema_base import WireSchema, describe_errors


def operation_id() -> str:
    """The caller's operationID as far as it is known: body first, then header."""
    return operation_id_in(g._get_current_object(), request._get_current_object())


def operation_id_in(app_globals: _AppCtxGlobals, current_request: Request) -> str:
    """operation_id() on flask.g and the request, resolved by the caller (web/every_answer.py)."""
    return app_globals.get("operation_id") or header_operation_id(current_request) or ""


def header_operation_id(current_request: Request) -> str | None:
    """The `operationID` header: read from the WSGI environ, as request.headers would, without building it."""
    return current_request.environ.get("HTTP_OPERATIONID")


def read_body() -> bytes:
    """The request body; 413 when it is over MAX_CONTENT_LENGTH.

    Werkzeug refuses a Content-Length over the limit, but a body without one
    (chunked) it cuts at the limit without a word, and the cut-off part could
    be valid JSON. One byte more from the server's stream tells a body at the
    limit from one over it.

    gunicorn decodes a chunked body while it is read here: a bad chunk size,
    a chunk without its CRLF or a malformed trailer is the caller's mistake.
    """
    current = request._get_current_object()
    try:
        body = current.get_data(cache=False)
        limit = current.max_content_length
        if (
            limit is not None
            and len(body) >= limit
            and current.content_length is None
            and current.environ.get("wsgi.input_terminated")
            and current.input_stream.read(1)
        ):
            raise RequestEntityTooLarge()
    except (ParseException, NoMoreData):
        raise InvalidInput("body is not valid chunked transfer coding (chunk size, chunk end or trailer)") from None
    return body


def load_request(schema: WireSchema) -> dict:
    """The request body, parsed as JSON whatever its Content-Type, loaded with `schema`.

    Raises InvalidInput naming every bad field.
    """
    try:
        body = go_json.loads(read_body())
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    from_header = header_operation_id(request._get_current_object())
    try:
        data = schema.load_wire(body, from_header)
    except ValidationError as exc:
        # The operationID, when it was valid, still names the request in the log.
        valid = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        g.operation_id = valid.get("operation_id", from_header)
        raise InvalidInput(describe_errors(exc.messages), fields=exc.messages) from None
    g._get_current_object().operation_id = data.get("operation_id", from_header)
    return data


class GoJSONProvider(JSONProvider):
    """Responses encoded as OpenIM's Go server encodes them."""

    def dumps(self, obj, **kwargs) -> str:
        return go_json.dumps(obj)

    def loads(self, s, **kwargs):
        return go_json.loads(s if isinstance(s, bytes) else s.encode("utf-8"))
