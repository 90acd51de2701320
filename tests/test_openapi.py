"""GET /openapi.json: a valid OpenAPI 3.1 document of exactly the app's routes."""

import re
import sys
import unicodedata

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from app import create_app
from app.web import openapi, route_docs
from app.web.openapi import (
    IMPLICIT_METHODS,
    UndocumentedRoute,
    api_rules,
    build_document,
    documented_routes,
    table_classes,
)
from app.web.v2 import answers as v2_errors
from app.web.v2 import openapi_wording as v2_wording
from app.wire_format import field_rules
from app.wire_format.go_json import fold_key
from app.wire_format.schema_base import ALIASES
from tests.helpers import SECRET, TOKEN_SECRET, base_config

# The characters the userID rule is about: white space and control characters.
EDGE_CHARACTERS = [
    char for char in map(chr, range(sys.maxunicode + 1)) if char.isspace() or unicodedata.category(char) == "Cc"
] + ["\ufeff"]


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def app_operations(app: Flask, dialect: str = "v2") -> set[tuple[str, str]]:
    """The app's operations that `dialect` answers: under /v3 for v3, the others for v2."""
    return {
        (rule.rule, method.lower())
        for rule in api_rules(app)
        for method in rule.methods - IMPLICIT_METHODS
        if rule.rule.startswith("/v3/") == (dialect == "v3")
    }


def document_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, operations in document["paths"].items() for method in operations}


def request_component(document: dict, operation: dict) -> dict:
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return document["components"]["schemas"][reference.rsplit("/", 1)[-1]]


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_paths_are_exactly_the_apps_routes(app, document):
    assert document_operations(document) == app_operations(app)


def test_every_registry_entry_is_a_real_route(app):
    # A stale entry would document a route that no longer exists.
    assert set(documented_routes(app)) == {rule.endpoint for rule in api_rules(app)}


def test_only_the_docs_pages_are_left_out(app, document):
    left_out = {rule.rule for rule in app.url_map.iter_rules()} - {rule.rule for rule in api_rules(app)}
    assert left_out == {"/docs", "/docs/assets/<path:filename>"}
    assert not any(path.startswith("/docs") for path in document["paths"])


def test_a_route_missing_from_the_registry_fails_the_build(make_app):
    app = make_app()
    app.add_url_rule("/auth/undocumented", "auth.undocumented", lambda: "", methods=["POST"])
    with pytest.raises(UndocumentedRoute, match="/auth/undocumented"):
        build_document(app)


def test_every_operation_has_a_description_and_says_what_it_reads(app, document):
    endpoint_of = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    assert any(path.startswith("/v3/") for path in endpoint_of)  # v3's: tests/test_v3_openapi.py
    for path, operations in document["paths"].items():
        route = documented_routes(app)[endpoint_of[path]]
        for operation in operations.values():
            assert operation["summary"] and operation["description"]
            assert ("requestBody" in operation) == (route.request is not None)
            assert "200" in operation["responses"]


def test_request_schemas_follow_the_marshmallow_schemas(app, document):
    endpoint_of = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    for path, operations in document["paths"].items():
        schema_class = documented_routes(app)[endpoint_of[path]].request
        if schema_class is None:
            continue
        wire_fields = schema_class().fields.values()
        keys = {field.data_key or field.name for field in wire_fields}
        required = {field.data_key or field.name for field in wire_fields if field.required}
        for operation in operations.values():
            component = request_component(document, operation)
            assert set(component["properties"]) == keys
            assert set(component.get("required", [])) == required


def test_canonical_keys_are_shown(document):
    register = request_component(document, document["paths"]["/auth/user_register"]["post"])
    assert {"userID", "faceURL", "phoneNumber", "operationID"} <= set(register["properties"])
    assert not {"userid", "phoneNum"} & set(register["properties"])
    assert "case-insensitively" in document["info"]["description"]


def test_optional_fields_may_be_null_and_required_ones_may_not(document):
    register = request_component(document, document["paths"]["/auth/user_register"]["post"])
    assert register["properties"]["gender"]["type"] == ["integer", "null"]
    assert None in register["properties"]["gender"]["enum"]
    assert register["properties"]["userID"]["type"] == "string"


def test_every_error_code_of_errors_py_is_in_the_table(document):
    table = document["info"]["description"]
    for error_class, (err_code, status, _) in v2_errors.ERRORS.items():
        assert f"| {err_code} | {status} | {error_class.__name__} |" in table
    for status, (err_code, message) in v2_errors.HTTP_ERRORS.items():
        assert f"| {err_code} | {status} | HTTP {status} | {message} |" in table


def test_each_operation_lists_its_error_codes_under_their_statuses(app, document):
    endpoint_of = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    for path, operations in document["paths"].items():
        route = documented_routes(app)[endpoint_of[path]]
        for operation in operations.values():
            responses = operation["responses"]
            for error_class in table_classes(route.errors, v2_wording):
                err_code, status, _ = v2_errors.ERRORS[error_class]
                schema = responses[str(status)]["content"]["application/json"]["schema"]
                assert err_code in schema["properties"]["errCode"]["enum"]
            if route.request is not None:
                assert {"400", "413", "500"} <= set(responses)


def test_the_document_does_not_reveal_the_secrets(client):
    body = client.get("/openapi.json").data
    assert SECRET.encode() not in body and TOKEN_SECRET.encode() not in body


def user_id_rule_allows(user_id: str) -> bool:
    try:
        field_rules.validate_user_id(user_id)
    except ValidationError:
        return False
    return True


@settings(derandomize=True, database=None, max_examples=300)
@given(
    user_id=st.text(alphabet=st.sampled_from(EDGE_CHARACTERS) | st.characters(codec="utf-8"), min_size=1, max_size=8)
)
def test_user_id_pattern_agrees_with_the_python_rule(user_id):
    matches = re.fullmatch(openapi.USER_ID_PATTERN, user_id) is not None
    assert matches == user_id_rule_allows(user_id)


@pytest.mark.parametrize("user_id", ["a", "a b", "用户", " a", "a ", "\u3000a", "a\u00a0", "a\x00b", "\x85", "\ufeffa"])
def test_user_id_pattern_on_the_edges(user_id):
    assert (re.fullmatch(openapi.USER_ID_PATTERN, user_id) is not None) == user_id_rule_allows(user_id)


def all_request_keys() -> list[str]:
    return sorted(
        {
            field.data_key or name
            for route in documented_routes(create_app(base_config("sqlite://"))).values()
            if route.request
            for name, field in route.request().fields.items()
        }
        | set(ALIASES)
    )


@settings(derandomize=True, database=None, max_examples=200)
@given(key=st.sampled_from(all_request_keys()), upper=st.lists(st.booleans(), min_size=20, max_size=20))
def test_every_spelling_that_binds_matches_a_pattern(key, upper):
    spelling = "".join(char.upper() if flip else char.lower() for char, flip in zip(key, upper, strict=False))
    assert re.fullmatch(route_docs.spellings_pattern(key), spelling)
    assert fold_key(spelling) == fold_key(key)


@pytest.mark.parametrize(
    ("key", "other"), [("userID", "userIDs"), ("userID", "user_id"), ("ex", "e"), ("secret", "secrets")]
)
def test_keys_that_do_not_bind_match_no_pattern(key, other):
    assert re.fullmatch(route_docs.spellings_pattern(key), other) is None
    assert fold_key(other) != fold_key(key)


def test_go_folds_of_s_and_k_are_spellings_too():
    assert re.fullmatch(route_docs.spellings_pattern("secret"), "\u017fecret")
    assert re.fullmatch(route_docs.spellings_pattern("nickname"), "nic\u212aname")
    assert fold_key("\u017fecret") == "secret" and fold_key("nic\u212aname") == "nickname"


def test_request_bodies_hold_every_spelling_to_the_fields_schema(document):
    register = request_component(document, document["paths"]["/auth/user_register"]["post"])
    patterns = register["patternProperties"]
    for key, schema in register["properties"].items():
        assert patterns[route_docs.spellings_pattern(key)] == schema
    assert patterns[route_docs.spellings_pattern("phonenum")] == register["properties"]["phoneNumber"]
