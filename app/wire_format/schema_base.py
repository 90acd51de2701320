"""marshmallow schemas that read JSON objects the way OpenIM's Go server does.

Go's encoding/json binds keys case-insensitively (the last of two keys for one
field wins) and ignores unknown keys; OpenIM treats `null` for an optional
field as absent, and v3 clients send `operationID` as a header. Every wire
dialect's request schemas derive from WireSchema.
"""

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from app.wire_format.fast_loader import LONE_SURROGATE, FastLoader
from app.wire_format.go_json import fold_key

# Keys some OpenIM clients or docs use for a field, folded.
ALIASES = {"phonenum": "phoneNumber"}


class Text(fields.String):
    """A string that can be stored and encoded: no lone UTF-16 surrogates."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if LONE_SURROGATE.search(text):
            raise ValidationError("Not valid Unicode (lone surrogate).")
        return text


class StrictInteger(fields.Integer):
    """A JSON integer: booleans, floats and numeric strings are refused, as in Go."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


# The field classes whose deserialization FastLoader repeats: the Python type they accept as is.
FAST_PATH_TYPES = {Text: str, StrictInteger: int}


class WireSchema(Schema):
    """Reads JSON objects the way OpenIM's Go server does.

    Keys match case-insensitively (the last of two keys for one field wins),
    unknown keys are ignored, `null` for an optional field means absent, and an
    `operationID` header stands in when the body has none.
    """

    class Meta:
        unknown = EXCLUDE

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._key_for = {fold_key(f.data_key or name): f.data_key or name for name, f in self.fields.items()}
        self._key_for.update({alias: key for alias, key in ALIASES.items() if key in self._key_for.values()})
        # Keys spelled as declared, the usual case, skip the folding.
        self._declared_keys = {key: key for key in self._key_for.values()}
        self._optional_keys = {f.data_key or name for name, f in self.fields.items() if not f.required}
        self._fast_loader = FastLoader(self, FAST_PATH_TYPES)

    def load_wire(self, body: dict, operation_id_header: str | None = None) -> dict:
        data = {}
        for key, value in body.items():
            canonical = self._declared_keys.get(key) or self._key_for.get(fold_key(key))
            if canonical is None:
                continue
            if value is None and canonical in self._optional_keys:
                data.pop(canonical, None)  # absent, even when an earlier spelling gave a value
            else:
                data[canonical] = value
        if operation_id_header is not None and "operationID" in self._key_for.values():
            data.setdefault("operationID", operation_id_header)
        loaded = self._fast_loader.load(data)
        return loaded if loaded is not None else self.load(data)


def describe_errors(messages: dict) -> str:
    """`{"userID": ["Missing data..."]}` -> `userID: Missing data...`, one field after another."""
    parts = []
    for field, problems in sorted(messages.items()):
        if isinstance(problems, dict):
            problems = [describe_errors(problems)]
        parts.append(f"{field}: {' '.join(map(str, problems))}")
    return "; ".join(parts)
