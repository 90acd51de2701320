"""v3's envelope and headers (docs/api-v3.md): errCode/errMsg/errDlt, HTTP 200, omitempty, 404/405/413/503, app_v3."""

import importlib

import pytest
from sqlalchemy.exc import OperationalError

from app import create_app
from app.web.v3.answers import omit_zero_values
from tests.helpers import SECRET, base_config
from tests.v3_calls import ADMIN, V3_CONFIG, call

V3_ROUTES = sorted(
    rule.rule for rule in create_app(base_config("sqlite://")).url_map.iter_rules() if rule.endpoint.startswith("v3.")
)
WITHOUT_TOKEN = {"/v3/auth/get_admin_token", "/v3/auth/parse_token"}


def test_every_route_of_spec_12_is_served():
    assert V3_ROUTES == [
        "/v3/auth/force_logout",
        "/v3/auth/get_admin_token",
        "/v3/auth/get_user_token",
        "/v3/auth/parse_token",
        "/v3/user/account_check",
        "/v3/user/get_all_users_uid",
        "/v3/user/get_users",
        "/v3/user/get_users_info",
        "/v3/user/update_user_info",
        "/v3/user/update_user_info_ex",
        "/v3/user/user_register",
    ]


@pytest.mark.parametrize("route", V3_ROUTES)
def test_the_operation_id_header_is_required_everywhere(v3_client, admin, route):
    answer = call(v3_client, route.removeprefix("/v3"), {}, token=admin, operation_id=None)
    assert answer == {"errCode": 1001, "errMsg": "ArgsError", "errDlt": "header must have operationID"}


def test_an_operation_id_over_64_characters_is_1001_and_nothing_is_stored(v3_app, v3_client, admin):
    users = [{"userID": "alice", "nickname": "n"}]
    answer = call(v3_client, "/user/user_register", {"users": users}, token=admin, operation_id="o" * 65)
    assert answer["errCode"] == 1001 and "operationID" in answer["errDlt"]
    assert call(v3_client, "/user/user_register", {"users": users}, token=admin, operation_id="o" * 64)["errCode"] == 0


@pytest.mark.parametrize("route", V3_ROUTES)
def test_the_token_header_is_required_but_on_get_admin_token_and_parse_token(v3_client, route):
    answer = call(v3_client, route.removeprefix("/v3"), {})
    if route in WITHOUT_TOKEN:
        assert answer["errCode"] == 1001 and answer["errDlt"] != "header must have token"
    else:
        assert answer == {"errCode": 1001, "errMsg": "ArgsError", "errDlt": "header must have token"}


@pytest.mark.parametrize("route", sorted(set(V3_ROUTES) - WITHOUT_TOKEN))
def test_an_invalid_token_header_gets_its_15xx_code(v3_client, route):
    assert call(v3_client, route.removeprefix("/v3"), {}, token="not-a-token")["errCode"] == 1503


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'"x"', b"\xff"])
def test_a_body_that_is_not_a_json_object_is_1001_with_http_200(v3_client, body):
    response = v3_client.post("/v3/auth/get_admin_token", data=body, headers={"operationID": "o"})
    assert response.status_code == 200
    assert response.json["errCode"] == 1001 and response.json["errMsg"] == "ArgsError"
    assert "data" not in response.json


def test_route_level_failures_keep_their_http_status_in_v3s_envelope(v3_client):
    unknown = v3_client.post("/v3/auth/nope", json={}, headers={"operationID": "o"})
    assert (unknown.status_code, unknown.json) == (
        404,
        {"errCode": 404, "errMsg": "NotFoundError", "errDlt": "unknown route"},
    )
    wrong_method = v3_client.get("/v3/auth/parse_token")
    assert (wrong_method.status_code, wrong_method.json["errCode"]) == (405, 405)
    assert "POST" in wrong_method.headers["Allow"]
    too_large = v3_client.post("/v3/auth/parse_token", data=b"{" + b" " * 70000 + b"}", headers={"operationID": "o"})
    assert (too_large.status_code, too_large.json["errCode"], too_large.json["errMsg"]) == (413, 1001, "ArgsError")


def test_v2_keeps_its_own_envelope(v3_client):
    response = v3_client.post("/auth/nope", json={})
    assert response.json == {"errCode": 404, "errMsg": "unknown route", "data": None}


def test_an_unavailable_database_is_503_with_errcode_500(make_app, monkeypatch):
    client = make_app(PROPAGATE_EXCEPTIONS=False, **V3_CONFIG).test_client()

    def failing(*args, **kwargs):
        raise OperationalError("SELECT secret_sql", {}, Exception("gone"))

    monkeypatch.setattr("app.storage.token_records.record_token", failing)
    response = client.post(
        "/v3/auth/get_admin_token", json={"secret": SECRET, "userID": ADMIN}, headers={"operationID": "o"}
    )
    assert response.status_code == 503
    assert response.json == {"errCode": 500, "errMsg": "ServerInternalError", "errDlt": "db failed"}


def test_a_refused_database_connection_is_503(app_on, closed_port_url):
    client = app_on(closed_port_url).test_client()
    response = client.post("/v3/auth/parse_token", json={"token": "a.b.c"}, headers={"operationID": "o"})
    # A malformed token is refused before the database is asked.
    assert (response.status_code, response.json["errCode"]) == (200, 1503)
    response = client.post("/v3/user/get_users_info", json={}, headers={"operationID": "o", "token": _any_v3_token()})
    assert (response.status_code, response.json["errCode"]) == (503, 500)


def _any_v3_token() -> str:
    from app.jwt_tokens import mint_v3_token
    from tests.helpers import FIXED_NOW, TOKEN_SECRET

    return mint_v3_token("u", 1, TOKEN_SECRET, 7000, FIXED_NOW).token


@pytest.fixture
def closed_port_url() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"mysql+pymysql://root@127.0.0.1:{port}/openim"


def test_anything_unexpected_is_500_naming_the_operation_never_the_internals(make_app, monkeypatch):
    client = make_app(PROPAGATE_EXCEPTIONS=False, **V3_CONFIG).test_client()

    def broken(*args, **kwargs):
        raise RuntimeError("boom with internals")

    monkeypatch.setattr("app.rules.users.issue_admin_token", broken)
    response = client.post(
        "/v3/auth/get_admin_token", json={"secret": SECRET, "userID": ADMIN}, headers={"operationID": "op-42"}
    )
    assert response.status_code == 500
    assert (response.json["errCode"], response.json["errMsg"]) == (500, "ServerInternalError")
    assert "op-42" in response.json["errDlt"] and b"boom" not in response.data


def test_errdlt_never_holds_the_token_or_the_secret(v3_client, admin):
    answer = call(v3_client, "/auth/parse_token", {"token": admin + "x"})
    assert answer["errCode"] == 1505 and admin not in str(answer)
    answer = call(v3_client, "/auth/get_admin_token", {"secret": SECRET[:-1], "userID": ADMIN})
    assert SECRET[:-1] not in str(answer)


def test_omitempty_leaves_zero_values_out_at_every_depth():
    data = {"a": 0, "b": "", "c": [], "d": {}, "e": False, "f": None, "g": [{"x": 0, "y": 1}, {"z": ""}], "h": 2}
    assert omit_zero_values(data) == {"g": [{"y": 1}, {}], "h": 2}


def test_app_v3_serves_v3_at_the_root_and_no_v2(make_app):
    database_url = make_app().config["SQLALCHEMY_DATABASE_URI"]  # tables made
    app = create_app({**base_config(database_url), **V3_CONFIG}, root_dialect="v3")
    client = app.test_client()
    answer = call(client, "/auth/get_admin_token", {"secret": SECRET, "userID": ADMIN}, prefix="")
    assert answer["errCode"] == 0
    assert call(client, "/auth/parse_token", {"token": answer["data"]["token"]}, prefix="")["errCode"] == 0
    v2_route = client.post("/auth/user_token", json={}, headers={"operationID": "o"})
    assert (v2_route.status_code, v2_route.json["errMsg"]) == (404, "NotFoundError")
    # The health check answers in the dialect at the root: v3's envelope here.
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json == {"errCode": 0, "errMsg": "", "errDlt": "", "data": {"database": "ok"}}
    document = client.get("/openapi.json").json
    assert "/auth/get_admin_token" in document["paths"]
    assert "errDlt" in str(document["paths"]["/healthz"]["get"]["responses"])


def test_wsgi_exposes_app_and_app_v3(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLASK_OPENIM_SECRET", SECRET)
    monkeypatch.setenv("FLASK_OPENIM_TOKEN_SECRET", "w" * 32)
    wsgi = importlib.import_module("wsgi")
    assert "v3.auth.get_admin_token" in wsgi.app.view_functions
    assert "v3.auth.get_admin_token" in wsgi.app_v3.view_functions
    assert "auth.user_token" in wsgi.app.view_functions
    assert "auth.user_token" not in wsgi.app_v3.view_functions
