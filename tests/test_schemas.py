"""The fast path of WireSchema.load_wire against marshmallow: one set of rules.

For every input, the fast path either loads exactly what marshmallow loads or
steps aside (None) for marshmallow to refuse and word the error.
"""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app.web.v2.schemas import (
    force_logout_schema,
    get_all_users_uid_schema,
    parse_token_schema,
    register_schema,
    update_user_info_schema,
    user_token_schema,
)
from app.wire_format.field_rules import CONTROL_CHARACTER, import_row_schema

FAST_SCHEMAS = {
    "register": register_schema,
    "user_token": user_token_schema,
    "import_row": import_row_schema,
    "parse_token": parse_token_schema,
    "force_logout": force_logout_schema,
    "update_user_info": update_user_info_schema,
}
VALID_ROW = {
    "secret": "s" * 20,
    "platform": 5,
    "userID": "用户<1>",
    "fromUserID": "bob",
    "nickname": "Nick",
    "faceURL": "https://example.com/a.png",
    "gender": 2,
    "phoneNumber": "+86 138 0000 0000",
    "birth": 4294967295,
    "email": "a@example.com",
    "ex": "",
    "operationID": "op-1",
    "appMangerLevel": 2,
    "globalRecvMsgOpt": 1,
    "createTime": 1645675304123,
}
# Around every length limit of §2, and the characters the rules are about.
EDGE_STRINGS = [
    "",
    " ",
    "a",
    " a",
    "a ",
    "a\u3000",
    "a\x00b",
    "a\x7fb",
    "a\x85b",
    "\ud800",
    "a\udfffb",
    "é",
    "😀",
    *("x" * n for n in (31, 32, 33, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025)),
]
ANY_VALUE = st.one_of(
    st.sampled_from(EDGE_STRINGS),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=70),
    st.integers(min_value=-3, max_value=12),
    st.integers(min_value=4294967290, max_value=4294967300),
    st.integers(min_value=253402300799990, max_value=253402300800009),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)


def marshmallow_load(schema, data: dict) -> dict | None:
    try:
        return schema.load(data)
    except ValidationError:
        return None


def keys_of(schema) -> list[str]:
    return [field.data_key or name for name, field in schema.load_fields.items()]


@pytest.mark.parametrize("name", FAST_SCHEMAS)
def test_the_hot_schemas_have_a_fast_path(name):
    assert FAST_SCHEMAS[name]._fast_loader.fields is not None


def test_a_schema_with_schema_level_rules_has_none():
    assert get_all_users_uid_schema._fast_loader.fields is None


@pytest.mark.parametrize("name", FAST_SCHEMAS)
def test_a_valid_row_takes_the_fast_path(name):
    schema = FAST_SCHEMAS[name]
    row = {key: VALID_ROW[key] for key in keys_of(schema)}
    assert schema._fast_loader.load(row) is not None
    assert schema._fast_loader.load(row) == schema.load(row)


@settings(max_examples=300)
@given(name=st.sampled_from(sorted(FAST_SCHEMAS)), data=st.data())
def test_fast_path_agrees_with_marshmallow_on_one_changed_field(name, data):
    """A valid row with one field changed to anything, or left out."""
    schema = FAST_SCHEMAS[name]
    row = {key: VALID_ROW[key] for key in keys_of(schema)}
    key = data.draw(st.sampled_from(sorted(row)))
    if data.draw(st.booleans()):
        del row[key]
    else:
        row[key] = data.draw(ANY_VALUE)
    assert schema._fast_loader.load(row) == marshmallow_load(schema, row)


@settings(max_examples=300)
@given(name=st.sampled_from(sorted(FAST_SCHEMAS)), data=st.data())
def test_fast_path_agrees_with_marshmallow_on_any_row(name, data):
    schema = FAST_SCHEMAS[name]
    row = data.draw(st.fixed_dictionaries({}, optional={key: ANY_VALUE for key in keys_of(schema)}))
    assert schema._fast_loader.load(row) == marshmallow_load(schema, row)


def test_the_control_character_class_is_unicode_category_cc():
    """validate_user_id and the OpenAPI pattern use a class of ranges, not unicodedata, for speed."""
    mismatches = [
        code
        for code in range(0x110000)
        if (unicodedata.category(chr(code)) == "Cc") != bool(CONTROL_CHARACTER.match(chr(code)))
    ]
    assert mismatches == []
