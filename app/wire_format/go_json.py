"""JSON as OpenIM's Go server reads and writes it.

Writing: compact, non-ASCII as raw UTF-8, and `<`, `>`, `&`, U+2028, U+2029
escaped, as Go's encoding/json does; token payloads must match it byte for byte.
Reading: strict JSON (no NaN/Infinity), UTF-8 only, and any failure, nesting
too deep included, is a ValueError.
"""

import json

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def dumps(value) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_GO_ESCAPES)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def loads(body: bytes):
    """Parse a request body; raises ValueError with a message fit for the caller."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError("body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or an integer of more than 4300 digits
        raise ValueError(f"body is not valid JSON: {exc}") from None


def fold_key(key: str) -> str:
    """Go's case-insensitive field matching (strings.EqualFold) for ASCII field names."""
    return key.lower().replace("\u017f", "s")
