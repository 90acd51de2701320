"""OpenIM v2's request bodies (docs/api-v2.md–§3, §9–§10), and the `data` of its answers.

Request schemas load bodies (the views call them through web.wire.load_request);
the answer schemas dump stored users, or only document what a view answers.
"""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.openim import PLATFORM_NAMES
from app.wire_format.field_rules import (
    ProfileSchema,
    length,
    operation_id_field,
    platform_field,
    user_id_field,
    validate_user_id,
)
from app.wire_format.schema_base import StrictInteger, Text, WireSchema


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
    """Routes that take either body `secret` or header `token` (docs/api-v2.md)."""

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


# The `data` of success answers that views build as dicts: documentation only.
class TokenAnswerSchema(Schema):
    userID = fields.String(required=True)
    token = fields.String(required=True, metadata={"description": "An OpenIM v2 HS256 JWT."})
    expiredTime = fields.Integer(required=True, metadata={"description": "The token's exp, unix seconds."})


class ParsedTokenSchema(Schema):
    ExpireTimeSeconds = fields.Integer(required=True, metadata={"description": "The token's exp, unix seconds."})
    userID = fields.String(required=True)
    platformID = fields.Integer(required=True)
    platform = fields.String(required=True, metadata={"enum": list(PLATFORM_NAMES.values())})


class AccountStatusSchema(Schema):
    userID = fields.String(required=True)
    accountStatus = fields.String(required=True, metadata={"enum": ["registered", "unregistered"]})


register_schema = RegisterSchema()
user_token_schema = UserTokenSchema()
parse_token_schema = ParseTokenSchema()
force_logout_schema = ForceLogoutSchema()
get_users_info_schema = GetUsersInfoSchema()
update_user_info_schema = UpdateUserInfoSchema()
account_check_schema = AccountCheckSchema()
get_all_users_uid_schema = GetAllUsersUidSchema()
user_info_schema = UserInfoSchema()
# phoneNumber, birth and email: only for the caller's own record, or for an admin.
public_user_info_schema = UserInfoSchema(exclude=("phone_number", "birth", "email"))
