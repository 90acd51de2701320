"""The wire rules of SPEC §2–§3 and §9–§10 as marshmallow schemas.

Loaded dicts use the Python attribute names (`user_id`, `face_url`, ...); the
JSON keys (`userID`, `faceURL`, ...) are the fields' data keys.
"""
import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate, validates_schema

from app.gojson import fold_key
from app.tokens import PLATFORM_NAMES

# Keys some OpenIM clients or docs use for a field, folded.
ALIASES = {"phonenum": "phoneNumber"}


LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Unicode category Cc, in the \uXXXX escapes that both Python's re and ECMA-262
# (the OpenAPI pattern) read. Cc is closed: Unicode never adds to it.
CONTROL_CHARACTERS = "\\u0000-\\u001f\\u007f-\\u009f"
CONTROL_CHARACTER = re.compile(f"[{CONTROL_CHARACTERS}]")


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


# The field classes whose deserialization the fast path of WireSchema.load_wire
# repeats: the Python type they accept as is.
FAST_PATH_TYPES = {Text: str, StrictInteger: int}


def validate_user_id(user_id: str) -> None:
    if CONTROL_CHARACTER.search(user_id):
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
        # Keys spelled as declared, the usual case, skip the folding.
        self._declared_keys = {key: key for key in self._key_for.values()}
        self._optional_keys = {f.data_key or name for name, f in self.fields.items() if not f.required}
        self._fast_fields = self._derive_fast_fields()

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
        if self._fast_fields is not None:
            loaded = self._load_valid_fast(data)
            if loaded is not None:
                return loaded
        return self.load(data)

    # marshmallow's load costs tens of µs per field, most of it bookkeeping for
    # the error messages of invalid input. Input that passes the same checks
    # (each field's type, then its very validators) is loaded by the plain loop
    # of _load_valid_fast; anything else goes to marshmallow, which decides and
    # words the error. tests/test_schemas.py holds the two to the same answers.
    def _derive_fast_fields(self) -> list[tuple[str, str, type, bool, list]] | None:
        """(data key, attribute, Python type, required, validators) per field; None when not derivable."""
        # Schema-level hooks (validates_schema, pre_load, ...) are marshmallow's alone.
        if any(self._hooks.values()):
            return None
        derived = []
        for name, field in self.load_fields.items():
            kind = FAST_PATH_TYPES.get(type(field))
            if kind is None or field.load_default is not missing or field.allow_none:
                return None
            derived.append((field.data_key or name, field.attribute or name, kind, field.required, field.validators))
        return derived

    def _load_valid_fast(self, data: dict) -> dict | None:
        """`data` loaded as marshmallow would load it, or None when any field is not plainly valid."""
        loaded = {}
        for key, attribute, kind, required, validators in self._fast_fields:
            if key not in data:
                if required:
                    return None
                continue
            value = data[key]
            if type(value) is not kind or (kind is str and not value.isascii() and LONE_SURROGATE.search(value)):
                return None
            for validator in validators:
                try:
                    # As marshmallow, a validator that returns False refuses the value.
                    if validator(value) is False:
                        return None
                except ValidationError:
                    return None
            loaded[attribute] = value
        return loaded


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


# 9999-12-31T23:59:59.999Z, the last instant a MySQL DATETIME holds.
MAX_UNIX_MILLISECONDS = 253402300799999


class ImportRowSchema(ProfileSchema):
    """A row of `flask users import`: a profile, optionally with its operationID,
    OpenIM v3's two levels and its createTime (unix milliseconds, as `users export` writes them).

    An empty operationID is one no request can carry (§2 wants 1 to 64
    characters): no register ever counts as a retry of that row's creation.
    """

    operation_id = Text(data_key="operationID", validate=length(0, 64))
    app_manger_level = StrictInteger(
        data_key="appMangerLevel", validate=validate.OneOf([0, 1, 2, 3, 4], error="Must be from 0 to 4.")
    )
    global_recv_msg_opt = StrictInteger(
        data_key="globalRecvMsgOpt", validate=validate.OneOf([0, 1, 2], error="Must be 0, 1 or 2.")
    )
    create_time = StrictInteger(data_key="createTime", validate=validate.Range(min=0, max=MAX_UNIX_MILLISECONDS))


class CreateUserSchema(ProfileSchema):
    """`flask users create`: a profile and the operationID it is created with."""

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


class OptionalSecretMixin(Schema):
    """Routes that take either body `secret` or header `token` (SPEC §9, §10)."""

    secret = Text(validate=length(None, 256))


def user_id_list_field(data_key: str, maximum: int) -> fields.List:
    return fields.List(
        Text(validate=[length(1, 64), validate_user_id]),
        data_key=data_key,
        required=True,
        validate=validate.Length(max=maximum),
    )


class ParseTokenSchema(WireSchema):
    operation_id = operation_id_field()


class ForceLogoutSchema(WireSchema, OptionalSecretMixin):
    platform = platform_field()
    from_user_id = Text(data_key="fromUserID", required=True, validate=[length(1, 64), validate_user_id])
    operation_id = operation_id_field()


class GetUsersInfoSchema(WireSchema, OptionalSecretMixin):
    user_ids = user_id_list_field("userIDList", 1000)
    operation_id = operation_id_field()


class UpdateUserInfoSchema(ProfileSchema, OptionalSecretMixin):
    """A profile where only userID is required: the fields given are the ones that change."""

    nickname = Text(validate=length(1, 64))
    operation_id = operation_id_field()


class AccountCheckSchema(WireSchema, OptionalSecretMixin):
    user_ids = user_id_list_field("checkUserIDList", 100)
    operation_id = operation_id_field()


class GetAllUsersUidSchema(WireSchema, OptionalSecretMixin):
    """Without pageNumber and showNumber: every userID; with both: that page."""

    page_number = StrictInteger(data_key="pageNumber", validate=validate.Range(min=1, max=2**31 - 1))
    show_number = StrictInteger(data_key="showNumber", validate=validate.Range(min=1, max=1000))
    operation_id = operation_id_field()

    @validates_schema
    def paging_fields_come_together(self, data, **kwargs):
        if ("page_number" in data) != ("show_number" in data):
            missing = "showNumber" if "page_number" in data else "pageNumber"
            raise ValidationError("Required with the other paging field.", field_name=missing)


class UserInfoSchema(Schema):
    """A stored user as /user/get_users_info answers it."""

    user_id = fields.String(data_key="userID")
    nickname = fields.String()
    face_url = fields.String(data_key="faceURL")
    gender = fields.Integer()
    phone_number = fields.String(data_key="phoneNumber")
    birth = fields.Integer()
    email = fields.String()
    ex = fields.String()


register_schema = RegisterSchema()
user_token_schema = UserTokenSchema()
import_row_schema = ImportRowSchema()
create_user_schema = CreateUserSchema()
parse_token_schema = ParseTokenSchema()
force_logout_schema = ForceLogoutSchema()
get_users_info_schema = GetUsersInfoSchema()
update_user_info_schema = UpdateUserInfoSchema()
account_check_schema = AccountCheckSchema()
get_all_users_uid_schema = GetAllUsersUidSchema()
user_info_schema = UserInfoSchema()
# phoneNumber, birth and email: only for the caller's own record, or for an admin.
public_user_info_schema = UserInfoSchema(exclude=("phone_number", "birth", "email"))


def describe_errors(messages: dict) -> str:
    """`{"userID": ["Missing data..."]}` -> `userID: Missing data...`, one field after another."""
    parts = []
    for field, problems in sorted(messages.items()):
        if isinstance(problems, dict):
            problems = [describe_errors(problems)]
        parts.append(f"{field}: {' '.join(map(str, problems))}")
    return "; ".join(parts)
