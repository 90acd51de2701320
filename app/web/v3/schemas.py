"""OpenIM v3's request bodies (docs/api-v3.md), and the `data` of its answers.

Field rules are app/wire_format/field_rules.py's, shared with v2, plus v3's own: no `:` in a
registered userID, appMangerLevel 0–4, globalRecvMsgOpt 0–2. Nested objects
(`users`, `userInfo`, `pagination`) are read as Go reads the body: keys
case-insensitive, unknown keys ignored, null for an optional field absent.
The operationID is a header in v3, never a body field.
"""

from marshmallow import Schema, ValidationError, fields, validate

from app.openim import V3_PLATFORM_NAMES
from app.wire_format.field_rules import (
    app_manger_level_field,
    global_recv_msg_opt_field,
    length,
    user_id_field,
    validate_user_id,
)
from app.wire_format.schema_base import StrictInteger, Text, WireSchema


class WireNested(fields.Nested):
    """A nested JSON object loaded with its WireSchema's Go-style reading."""

    def _deserialize(self, value, attr, data, partial=None, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Not a JSON object.")
        return self.schema.load_wire(value)


def validate_no_colon(user_id: str) -> None:
    # OpenIM v3's user_register refuses a userID with ':' (it separates IDs in its keys).
    if ":" in user_id:
        raise ValidationError("Must not contain ':'.")


def platform_id_field() -> StrictInteger:
    return StrictInteger(
        data_key="platformID",
        required=True,
        validate=validate.OneOf(V3_PLATFORM_NAMES, error="Must be a platform number from 1 to 11."),
    )


def user_id_list_field(data_key: str, maximum: int, required: bool = True) -> fields.List:
    return fields.List(
        Text(validate=[length(1, 64), validate_user_id]),
        data_key=data_key,
        required=required,
        validate=validate.Length(max=maximum),
    )


class GetAdminTokenSchema(WireSchema):
    secret = Text(required=True, validate=length(None, 256))
    user_id = user_id_field(required=True)


class GetUserTokenSchema(WireSchema):
    platform_id = platform_id_field()
    user_id = user_id_field(required=True)


class ParseTokenSchema(WireSchema):
    token = Text(required=True, validate=length(None, 4096))


class ForceLogoutSchema(WireSchema):
    platform_id = platform_id_field()
    user_id = user_id_field(required=True)


class NewUserSchema(WireSchema):
    """One user of a user_register batch."""

    user_id = Text(data_key="userID", required=True, validate=[length(1, 64), validate_user_id, validate_no_colon])
    nickname = Text(required=True, validate=length(1, 64))
    face_url = Text(data_key="faceURL", validate=length(None, 1024))
    ex = Text(validate=length(None, 1024))
    app_manger_level = app_manger_level_field()
    global_recv_msg_opt = global_recv_msg_opt_field()


class UserRegisterSchema(WireSchema):
    users = fields.List(WireNested(NewUserSchema), required=True, validate=validate.Length(min=1, max=1000))


class GetUsersInfoSchema(WireSchema):
    user_ids = user_id_list_field("userIDs", 1000)


class UserInfoChangesSchema(WireSchema):
    """The user and the fields that change; only those given change."""

    user_id = user_id_field(required=True)
    nickname = Text(validate=length(1, 64))
    face_url = Text(data_key="faceURL", validate=length(None, 1024))
    ex = Text(validate=length(None, 1024))
    global_recv_msg_opt = global_recv_msg_opt_field()


class UpdateUserInfoExSchema(WireSchema):
    user_info = WireNested(UserInfoChangesSchema, data_key="userInfo", required=True)


class AccountCheckSchema(WireSchema):
    user_ids = user_id_list_field("checkUserIDs", 100)


class PaginationSchema(WireSchema):
    page_number = StrictInteger(data_key="pageNumber", required=True, validate=validate.Range(min=1, max=2**31 - 1))
    show_number = StrictInteger(data_key="showNumber", required=True, validate=validate.Range(min=1, max=1000))


class GetUsersSchema(WireSchema):
    pagination = WireNested(PaginationSchema, required=True)
    user_id = user_id_field()
    nickname = Text(data_key="nickName", validate=length(None, 64))


class GetAllUsersUidSchema(WireSchema):
    pagination = WireNested(PaginationSchema, required=True)


# The `data` of success answers that views build as dicts: documentation only.
# Fields at their zero value are left out of answers (Go's omitempty), so none is required.
class TokenAnswerSchema(Schema):
    token = fields.String(metadata={"description": "An OpenIM v3 HS256 JWT."})
    expireTimeSeconds = fields.Integer(metadata={"description": "The token's lifetime in seconds."})


class ParsedTokenSchema(Schema):
    userID = fields.String()
    platformID = fields.Integer()
    expireTimeSeconds = fields.Integer(metadata={"description": "The token's exp, unix seconds."})


class UserInfoSchema(Schema):
    userID = fields.String()
    nickname = fields.String()
    faceURL = fields.String()
    ex = fields.String()
    createTime = fields.Integer(metadata={"description": "Registration time, unix milliseconds."})
    appMangerLevel = fields.Integer()
    globalRecvMsgOpt = fields.Integer()


class UsersInfoSchema(Schema):
    usersInfo = fields.List(fields.Nested(UserInfoSchema))


class AccountStatusSchema(Schema):
    userID = fields.String()
    accountStatus = fields.Integer(metadata={"description": "1 registered, 0 not (left out)."})


class AccountCheckAnswerSchema(Schema):
    results = fields.List(fields.Nested(AccountStatusSchema))


class UsersPageSchema(Schema):
    total = fields.Integer()
    users = fields.List(fields.Nested(UserInfoSchema))


class UserIDsPageSchema(Schema):
    total = fields.Integer()
    userIDs = fields.List(fields.String())


get_admin_token_schema = GetAdminTokenSchema()
get_user_token_schema = GetUserTokenSchema()
parse_token_schema = ParseTokenSchema()
force_logout_schema = ForceLogoutSchema()
user_register_schema = UserRegisterSchema()
get_users_info_schema = GetUsersInfoSchema()
update_user_info_ex_schema = UpdateUserInfoExSchema()
account_check_schema = AccountCheckSchema()
get_users_schema = GetUsersSchema()
get_all_users_uid_schema = GetAllUsersUidSchema()
