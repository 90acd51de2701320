"""Field rules shared by every door onto the users: both wire dialects, the import and the CLI.

Loaded dicts use the Python attribute names (`user_id`, `face_url`, ...); the
JSON keys (`userID`, `faceURL`, ...) are the fields' data keys.
"""

import re

from marshmallow import ValidationError, validate

from app.openim import PLATFORM_NAMES
from app.wire_format.schema_base import StrictInteger, Text, WireSchema

# Unicode category Cc, in the \uXXXX escapes that both Python's re and ECMA-262
# (the OpenAPI pattern) read. Cc is closed: Unicode never adds to it.
CONTROL_CHARACTERS = "\\u0000-\\u001f\\u007f-\\u009f"
CONTROL_CHARACTER = re.compile(f"[{CONTROL_CHARACTERS}]")


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
        validate=validate.OneOf(PLATFORM_NAMES, error="Must be a platform number from 1 to 9."),
    )


def app_manger_level_field() -> StrictInteger:
    """OpenIM v3's appMangerLevel: 0 and 1 ordinary, 2 app manager, 3 notification account, 4 bot."""
    return StrictInteger(
        data_key="appMangerLevel", validate=validate.OneOf([0, 1, 2, 3, 4], error="Must be from 0 to 4.")
    )


def global_recv_msg_opt_field() -> StrictInteger:
    """OpenIM v3's globalRecvMsgOpt: 0 receive, 1 do not receive, 2 receive without notification."""
    return StrictInteger(data_key="globalRecvMsgOpt", validate=validate.OneOf([0, 1, 2], error="Must be 0, 1 or 2."))


def operation_id_field() -> Text:
    return Text(data_key="operationID", required=True, validate=length(1, 64))


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
    app_manger_level = app_manger_level_field()
    global_recv_msg_opt = global_recv_msg_opt_field()
    create_time = StrictInteger(data_key="createTime", validate=validate.Range(min=0, max=MAX_UNIX_MILLISECONDS))


class CreateUserSchema(ProfileSchema):
    """`flask users create`: a profile and the operationID it is created with."""

    operation_id = Text(data_key="operationID", validate=length(1, 64))


import_row_schema = ImportRowSchema()
create_user_schema = CreateUserSchema()
