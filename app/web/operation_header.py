"""Every answer carries the request's operationID back in an `operationID` header, so a caller can
match it to its own logs and to ours; errors, 404 and 405 included (web/every_answer.py adds it).

Only a value that passed the operationID rule (1–64 characters, no control
characters) is sent back, and percent-encoded (UTF-8) beyond visible ASCII:
a header is Latin-1 on the wire, and an operationID may be in any script.
"""

from urllib.parse import quote

from app.wire_format.field_rules import CONTROL_CHARACTER

HEADER = "operationID"
MAX_LENGTH = 64
# Visible ASCII stays as it is, but '%', which starts an escape.
_VERBATIM = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) != "%")


def header_value(value: str) -> str | None:
    if not value or len(value) > MAX_LENGTH or CONTROL_CHARACTER.search(value):
        return None
    return quote(value, safe=_VERBATIM, errors="replace")


def add_operation_id(response, operation_id: str) -> None:
    value = header_value(operation_id)
    if value is not None:
        response.headers[HEADER] = value
