"""The wire rules of SPEC §2–§3 as marshmallow schemas.

Loaded dicts use the Python attribute names (`user_id`, `face_url`, ...); the
JSON keys (`userID`, `faceURL`, ...) are the fields' data keys.
"""
import unicodedata

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from app.gojson import fold_key
from app.tokens import PLATFORM_NAMES

# Keys some OpenIM clients or docs use for a field, folded.
ALIASES = {"phonenum": "phoneNumber"}


class Text(fields.String):
    """A string that can be stored and encoded: no lone UTF-16 surrogates."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if any("\ud800" <= char <= "\udfff" for char in text):
            raise ValidationError("Not valid Unicode (lone surrogate).")
        return text


class StrictInteger(fields.Integer):
    """A JSON integer: booleans, floats and numeric strings are refused, as in Go."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def validate_user_id(user_id: str) -> None:
    if any(unicodedata.category(char) == "Cc" for char in user_id):
        raise ValidationError("Must not contain control characters.")
    if user_id[:1].isspace() or user_id[-1:].isspace():
        raise ValidationError("Must not start or end with white space.")


def length(minimum: int | None, maximum: int) -> validate.Length:
    return validate.Length(min=minimum, max=maximum)


def user_id_field(**kwargs) -> Text:
    return Text(data_key="userID", validate=[length(1, 64), validate_user_id], **kwargs)


def platform_field() -> StrictInteger:
    return StrictInteger(
        required=True,
        validate=validate.OneOf(
            PLATFORM_NAMES, error="Must be a platform number from 1 to 9."
        ),
    )


def operation_id_field() -> Text:
    return Text(data_key="operationID", required=True, validate=length(1, 64))


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
        self._optional_keys = {f.data_key or name for name, f in self.fields.items() if not f.required}

    def load_wire(self, body: dict, operation_id_header: str | None = None) -> dict:
        data = {}
        for key, value in body.items():
            canonical = self._key_for.get(fold_key(key))
            if canonical is not None:
                data[canonical] = value
        for key in self._optional_keys:
            if key in data and data[key] is None:
                del data[key]
        if operation_id_header is not None and "operationID" in self._key_for.values():
            data.setdefault("operationID", operation_id_header)
        return self.load(data)


class ProfileSchema(WireSchema):
    """A user's stored fields: what register, import and create all take."""

    user_id = user_id_field(required=True)
    nickname = Text(required=True, validate=length(1, 64))
    face_url = Text(data_key="faceURL", validate=length(None, 1024))
    gender = StrictInteger(validate=validate.OneOf([0, 1, 2], error="Must be 0, 1 or 2."))
    phone_number = Text(data_key="phoneNumber", validate=length(None, 32))
    birth = StrictInteger(validate=validate.Range(min=0, max=4294967295))
    email = Text(validate=length(None, 64))
    ex = Text(validate=length(None, 1024))


class ImportRowSchema(ProfileSchema):
    """A row of `flask users import`: a profile, optionally with its operationID."""

    operation_id = Text(data_key="operationID", validate=length(1, 64))


class SecretMixin(Schema):
    secret = Text(required=True, validate=length(None, 256))


class RegisterSchema(ProfileSchema, SecretMixin):
    platform = platform_field()
    operation_id = operation_id_field()


class UserTokenSchema(WireSchema, SecretMixin):
    platform = platform_field()
    user_id = user_id_field(required=True)
    operation_id = operation_id_field()


register_schema = RegisterSchema()
user_token_schema = UserTokenSchema()
import_row_schema = ImportRowSchema()


def describe_errors(messages: dict) -> str:
    """`{"userID": ["Missing data..."]}` -> `userID: Missing data...`, one field after another."""
    parts = []
    for field, problems in sorted(messages.items()):
        if isinstance(problems, dict):
            problems = [describe_errors(problems)]
        parts.append(f"{field}: {' '.join(map(str, problems))}")
    return "; ".join(parts)
