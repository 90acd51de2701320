"""From HTTP request to validated dict, and from dict to Go-style JSON response."""
from flask import g, request
from flask.json.provider import JSONProvider
from marshmallow import ValidationError

from app import gojson
from app.errors import ArgumentError
from app.schemas import WireSchema, describe_errors


def load_request(schema: WireSchema) -> dict:
    """The request body, parsed as JSON whatever its Content-Type, loaded with `schema`.

    Raises ArgumentError naming every bad field.
    """
    try:
        body = gojson.loads(request.get_data(cache=False))
    except ValueError as exc:
        raise ArgumentError(str(exc)) from None
    if not isinstance(body, dict):
        raise ArgumentError("body must be a JSON object")
    header_operation_id = request.headers.get("operationID")
    try:
        data = schema.load_wire(body, header_operation_id)
    except ValidationError as exc:
        raise ArgumentError(describe_errors(exc.messages), data={"fields": exc.messages}) from None
    g.operation_id = data.get("operation_id", header_operation_id)
    return data


class GoJSONProvider(JSONProvider):
    """Responses encoded as OpenIM's Go server encodes them."""

    def dumps(self, obj, **kwargs) -> str:
        return gojson.dumps(obj)

    def loads(self, s, **kwargs):
        return gojson.loads(s if isinstance(s, bytes) else s.encode("utf-8"))
