"""Caller-controlled text made safe for a log line: one line, bounded, unambiguous.

A log reader splits lines on more than `\\n`: `\\r`, U+0085 (NEL), U+2028 and
U+2029 (line and paragraph separators, which JavaScript and many viewers break
on), and terminals act on escape sequences (ESC, and the one-character CSI,
U+009B). So every character that is not printable (Python's `str.isprintable`:
the categories Cc, Cf, Cs, Co, Cn, Zl, Zp, and Zs but the plain space) is
written as a JSON escape, as are `"` and `\\`; a value longer than its limit is
cut, and says how long it was. The result of `quoted` is a JSON string literal
that decodes to the value (or to its cut and that note).

Both log formats cut with `cut`: the text format then escapes as above, the
JSON format leaves escaping to its serializer (ASCII only, every other
character escaped), so a value decodes to the same text in either.
"""

# An operationID is at most 64 characters on the wire; an invalid one may be
# anything a header can hold (8 KiB), and must not flood the log.
OPERATION_ID_LIMIT = 64
# Room for any path the service serves, and for a hostile one to be recognised.
PATH_LIMIT = 256

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _escape_character(character: str) -> str:
    if character in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[character]
    code = ord(character)
    if code > 0xFFFF:  # as JSON writes it: a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def cut(value: str, limit: int) -> str:
    """`value`, or its first `limit` characters and a note of its full length."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}...({len(value)}chars)"  # no space: a bare value stays one word


def escaped(value: str, limit: int, escape_space: bool = False) -> str:
    """`value`, cut at `limit` characters, every non-printable character (and `"`, `\\`) escaped.

    With `escape_space`, spaces too, so that the value stays one word of a
    `key=value` line.
    """
    value = cut(value, limit)
    # The usual value needs no escape: one C-speed test instead of a Python loop per character.
    if value.isprintable() and '"' not in value and "\\" not in value and not (escape_space and " " in value):
        return value
    return "".join(
        _escape_character(character)
        if not character.isprintable() or character in '"\\' or (escape_space and character == " ")
        else character
        for character in value
    )


def quoted(value: str, limit: int = OPERATION_ID_LIMIT) -> str:
    """`value` as a one-line JSON string literal of at most about `limit` characters."""
    return f'"{escaped(value, limit)}"'
