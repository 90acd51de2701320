"""The v3 OpenAPI documents: GET /v3/openapi.json, and app_v3's /openapi.json (docs/api-v3.md)."""

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from app import create_app
from app.web import route_docs
from app.web.openapi import IMPLICIT_METHODS, api_rules, documented_routes, table_classes
from app.web.v3 import answers as v3_errors
from app.web.v3 import openapi_wording as v3_wording
from tests.helpers import SECRET, TOKEN_SECRET, base_config


def operations(app, prefix: str) -> set[tuple[str, str]]:
    return {
        (rule.rule, method.lower())
        for rule in api_rules(app)
        for method in rule.methods - IMPLICIT_METHODS
        if rule.rule.startswith(prefix)
    }


def document_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, methods in document["paths"].items() for method in methods}


@pytest.fixture
def document(client) -> dict:
    response = client.get("/v3/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_the_v3_document_is_valid_openapi_3_1(document):
    validate(document, cls=OpenAPIV31SpecValidator)


def test_it_holds_exactly_the_v3_routes_and_the_v2_one_none_of_them(app, client, document):
    assert document_operations(document) == operations(app, "/v3/")
    assert not any(path.startswith("/v3/") for path in client.get("/openapi.json").json["paths"])


def test_app_v3s_document_holds_its_root_routes(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path))
    app = create_app(base_config("sqlite://"), root_dialect="v3")
    document = app.test_client().get("/openapi.json").json
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document_operations(document) == operations(app, "/")
    assert "/auth/get_admin_token" in document["paths"] and "/auth/user_token" not in document["paths"]


def test_every_v3_error_code_is_in_the_table(document):
    table = document["info"]["description"]
    for error_class, (err_code, err_msg, status) in v3_errors.ERRORS.items():
        assert f"| {err_code} | {status} | {error_class.__name__} | {err_msg} |" in table


def test_each_operation_documents_its_failures_beside_success_under_200(app, document):
    routes = documented_routes(app)
    endpoint_of = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    for path, methods in document["paths"].items():
        route = routes[endpoint_of[path]]
        if not route.enveloped:
            continue
        for operation in methods.values():
            answers = operation["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
            success, failure = answers
            assert success["properties"]["errCode"] == {"const": 0}
            codes = failure["properties"]["errCode"]["enum"]
            assert 1001 in codes  # the headers, on every route
            for error_class in table_classes(route.errors, v3_wording):
                err_code, http_status, _ = v3_wording.ERRORS[error_class]
                target = (
                    codes
                    if http_status == 200
                    else operation["responses"][str(http_status)]["content"]["application/json"]["schema"][
                        "properties"
                    ]["errCode"]["enum"]
                )
                assert err_code in target
            headers = {parameter["name"]: parameter["required"] for parameter in operation["parameters"]}
            assert headers["operationID"] is True
            assert headers.get("token", False) == (route.token_header == "required")


def test_nested_objects_hold_every_spelling_too(document):
    new_user = document["components"]["schemas"]["NewUser"]
    assert (
        new_user["patternProperties"][route_docs.spellings_pattern("appMangerLevel")]
        == new_user["properties"]["appMangerLevel"]
    )
    pagination = document["components"]["schemas"]["Pagination"]
    assert set(pagination["required"]) == {"pageNumber", "showNumber"}


def test_the_document_does_not_reveal_the_secrets(client):
    body = client.get("/v3/openapi.json").data
    assert SECRET.encode() not in body and TOKEN_SECRET.encode() not in body
