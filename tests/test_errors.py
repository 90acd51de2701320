"""The envelope on every answer, and the body rules: docs/api-v2.md."""

import json

import pytest
from sqlalchemy.exc import OperationalError

from tests.helpers import MINIMAL_BODY

ROUTES = ["/auth/user_register", "/auth/user_token"]


def assert_envelope(response, http_status, err_code):
    assert response.status_code == http_status
    assert response.is_json
    answer = response.json
    assert set(answer) == {"errCode", "errMsg", "data"}
    assert answer["errCode"] == err_code
    assert isinstance(answer["errMsg"], str) and answer["errMsg"]
    return answer


def test_unknown_route_is_404_envelope(client):
    assert_envelope(client.get("/nowhere"), 404, 404)
    assert_envelope(client.post("/auth/nothing", json={}), 404, 404)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("method", ["get", "put", "delete", "patch", "options"])
def test_wrong_method_is_405_envelope(client, route, method):
    assert_envelope(getattr(client, method)(route), 405, 405)


@pytest.mark.parametrize("route", ROUTES)
def test_body_over_the_limit_is_413(client, route):
    body = b'{"ex":"' + b"x" * (64 * 1024) + b'"}'
    assert_envelope(client.post(route, data=body), 413, 400)


def test_body_at_the_limit_is_read(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1024).test_client()
    body = json.dumps({**MINIMAL_BODY, "pad": ""}).encode()
    body = body[:-2] + b"p" * (1024 - len(body)) + b'"}'
    assert len(body) == 1024
    assert client.post("/auth/user_register", data=body).json["errCode"] == 0
    assert_envelope(client.post("/auth/user_register", data=body[:-2] + b'p"}'), 413, 400)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[]", "JSON object"),
        (b"null", "JSON object"),
        (b'"text"', "JSON object"),
        (b"12", "JSON object"),
        (b'{"platform": NaN}', "NaN"),
        (b'{"platform": Infinity}', "Infinity"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),
        (b'{"userID": "\xff"}', "UTF-8"),
        (b"[" * 30000 + b"]" * 30000, "nested too deeply"),
        (b'{"birth": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_unreadable_bodies_are_400(client, route, body, reason):
    answer = assert_envelope(client.post(route, data=body), 400, 400)
    assert reason in answer["errMsg"]


@pytest.mark.parametrize("route", ROUTES)
def test_lone_surrogate_is_a_bad_field(client, route):
    answer = assert_envelope(client.post(route, data=b'{"userID": "\\ud800"}'), 400, 400)
    assert "userID" in answer["data"]["fields"]


def test_errors_never_echo_the_secret(client):
    secret = "my-very-secret-value-that-is-wrong"
    response = client.post("/auth/user_register", json={**MINIMAL_BODY, "secret": secret, "platform": 0})
    assert secret.encode() not in response.data
    response = client.post("/auth/user_register", json={**MINIMAL_BODY, "secret": secret})
    assert secret.encode() not in response.data


def test_server_error_envelope_names_the_operation(make_app, monkeypatch):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def broken(*args, **kwargs):
        raise RuntimeError("boom with internals")

    monkeypatch.setattr("app.rules.users.register_and_issue_token", broken)
    response = app.test_client().post("/auth/user_register", json=MINIMAL_BODY)
    answer = assert_envelope(response, 500, 500)
    assert "op1" in answer["errMsg"]
    assert b"boom" not in response.data and b"Traceback" not in response.data


def test_driver_error_without_a_message_is_still_802(make_app, monkeypatch):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def failing(*args, **kwargs):
        raise OperationalError("INSERT ...", {}, Exception())  # the driver said nothing

    monkeypatch.setattr("app.rules.users.register_and_issue_token", failing)
    response = app.test_client().post("/auth/user_register", json=MINIMAL_BODY)
    assert (response.status_code, response.json["errCode"], response.json["errMsg"]) == (503, 802, "db failed")
