"""Hostile bodies on every route: each gets a 4xx envelope or is served correctly, never a 500.

tests/test_errors.py already covers: unreadable bodies (empty, truncated, not an
object, NaN, BOM, invalid UTF-8 in one field, 30 000 nested arrays, an integer
of 5 000 digits), a lone surrogate in userID, and the size limit on the two
/auth routes that take a secret. This module extends those to every route and
every field, and adds what they do not cover.
"""

import io
import json
import time

import pytest
from marshmallow import fields

from app import create_app
from app.web.openapi import documented_routes
from app.wire_format.schema_base import StrictInteger, Text
from tests.helpers import MINIMAL_BODY, SECRET, Api, base_config

DEFAULT_LIMIT = 64 * 1024
# Every answer to a hostile body must be one of these (docs/api-v2.md), never a 5xx.
CLIENT_ERROR_CODES = {400, 401, 404, 405, 701, 703, 704, 705, 706, 801, 1101, 1102}


def post_routes() -> list[tuple[str, str]]:
    """(path, endpoint) of every v2 route that reads a body, off an app's url_map (v3's: tests/test_v3_fuzz.py)."""
    app = create_app(base_config("sqlite://"))
    return sorted(
        (rule.rule, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.endpoint.startswith("v3.")
    )


BODY_ROUTES = post_routes()
ROUTES = documented_routes(create_app(base_config("sqlite://")))
ROUTE_IDS = [path for path, _ in BODY_ROUTES]


def wire_fields(endpoint: str, kind) -> list[str]:
    """JSON keys of the route's body fields of one kind: Text, StrictInteger, or fields.List."""
    schema = ROUTES[endpoint].request()
    return [field.data_key or name for name, field in schema.fields.items() if isinstance(field, kind)]


def answer_of(response) -> dict:
    assert response.status_code < 500, response.data
    assert response.is_json
    answer = response.json
    assert set(answer) == {"errCode", "errMsg", "data"}
    assert answer["errCode"] == 0 or answer["errCode"] in CLIENT_ERROR_CODES, answer
    return answer


def assert_bad_field(response, field: str) -> dict:
    answer = answer_of(response)
    assert (response.status_code, answer["errCode"]) == (400, 400), answer
    assert field in answer["data"]["fields"], answer
    return answer


class TestNesting:
    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_objects_nested_past_the_parser_limit_are_400(self, client, path, endpoint):
        body = b'{"":' * 12000 + b"1" + b"}" * 12000
        assert len(body) < DEFAULT_LIMIT
        answer = answer_of(client.post(path, data=body))
        assert answer["errCode"] == 400 and "nested too deeply" in answer["errMsg"]

    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_deep_values_in_each_field_are_bad_fields(self, client, path, endpoint):
        deep = json.loads("[" * 200 + "]" * 200)
        for field in wire_fields(endpoint, fields.Field):
            assert_bad_field(client.post(path, json={field: deep}), field)

    def test_deep_value_under_an_unknown_key_is_ignored(self, client):
        body = json.dumps(MINIMAL_BODY)[:-1] + ',"nested":' + '{"a":' * 500 + "1" + "}" * 500 + "}"
        assert answer_of(client.post("/auth/user_register", data=body))["errCode"] == 0


class TestNumbers:
    HUGE = [2**63, -(2**63) - 1, 2**64, 10**4000, -(10**4000)]
    FLOATS = ["1.0", "1e0", "-0.0", "0.5", "1e400", "-1e400", "9007199254740993.0", "1E2"]

    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_huge_integers_in_each_integer_field_are_bad_fields(self, client, path, endpoint):
        for field in wire_fields(endpoint, StrictInteger):
            for number in self.HUGE:
                answer = assert_bad_field(client.post(path, data=f'{{"{field}": {number}}}'), field)
                assert str(number)[:20] not in answer["errMsg"]

    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_floats_in_each_integer_field_are_bad_fields(self, client, path, endpoint):
        for field in wire_fields(endpoint, StrictInteger):
            for number in self.FLOATS:
                assert_bad_field(client.post(path, data=f'{{"{field}": {number}}}'), field)

    @pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 4000, "1e-400"])
    def test_extreme_numbers_under_unknown_keys_are_ignored(self, client, number):
        body = json.dumps(MINIMAL_BODY)[:-1] + f', "createTime": {number}}}'
        assert answer_of(client.post("/auth/user_register", data=body))["errCode"] == 0


class TestStrings:
    # Each is invalid UTF-8: a stray continuation byte, a byte never used, an
    # overlong "/", a surrogate encoded as UTF-8 (CESU-8), a cut-off sequence.
    INVALID_UTF8 = [b"\x80", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe4\xb8"]
    LONE_SURROGATES = ["\\ud800", "\\udfff", "a\\udbff", "\\udc00\\ud800"]

    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_lone_surrogates_in_each_string_field_are_bad_fields(self, client, path, endpoint):
        for field in wire_fields(endpoint, Text):
            for escaped in self.LONE_SURROGATES:
                answer = assert_bad_field(client.post(path, data=f'{{"{field}": "{escaped}"}}'), field)
                assert "surrogate" in str(answer["data"]["fields"][field])

    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_lone_surrogates_in_each_list_field_are_bad_fields(self, client, path, endpoint):
        for field in wire_fields(endpoint, fields.List):
            assert_bad_field(client.post(path, data=f'{{"{field}": ["ok", "\\ud800"]}}'), field)

    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_invalid_utf8_in_each_string_field_is_400(self, client, path, endpoint):
        for field in wire_fields(endpoint, Text) + wire_fields(endpoint, fields.List):
            for raw in self.INVALID_UTF8:
                body = b'{"' + field.encode() + b'": "ok' + raw + b'"}'
                answer = answer_of(client.post(path, data=body))
                assert answer["errCode"] == 400 and "UTF-8" in answer["errMsg"]

    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_control_characters_in_user_ids_are_bad_fields(self, client, path, endpoint):
        user_id_fields = [key for key in ("userID", "fromUserID") if key in wire_fields(endpoint, Text)]
        for field in user_id_fields:
            for char in ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f"]:
                assert_bad_field(client.post(path, json={field: f"a{char}b"}), field)
        for field in wire_fields(endpoint, fields.List):
            assert_bad_field(client.post(path, json={field: ["a\x00b"]}), field)

    def test_nul_and_control_characters_elsewhere_are_kept_exactly(self, client, api):
        controls = "".join(map(chr, range(0x20))) + "\x7f\x85\u2028\ufeff"
        profile = {
            "nickname": "n\x00" + controls[:30],
            "faceURL": controls,
            "phoneNumber": "\x00\x1b[31m",
            "email": "e\x00@x",
            "ex": controls * 3,
        }
        body = {**MINIMAL_BODY, **profile, "operationID": "op\x00\x01"}
        assert answer_of(api.post("/auth/user_register", body))["errCode"] == 0
        answer = answer_of(
            client.post("/user/get_users_info", json={"secret": SECRET, "userIDList": ["u1"], "operationID": "o"})
        )
        assert answer["errCode"] == 0
        assert {key: answer["data"][0][key] for key in profile} == profile
        # The same operationID, NUL and all, makes the retry a retry.
        assert answer_of(api.post("/auth/user_register", body))["errCode"] == 0

    def test_control_characters_in_the_operation_id_header(self, api):
        body = {key: value for key, value in MINIMAL_BODY.items() if key != "operationID"}
        response = api.post("/auth/user_register", body, headers={"operationID": "op\x01\x7f\x1b[2J"})
        assert answer_of(response)["errCode"] == 0


class TestObjects:
    def test_an_object_of_10_000_keys_is_served_quickly(self, make_app):
        api = Api(make_app(MAX_CONTENT_LENGTH=1024 * 1024).test_client())
        body = {f"unknown{number}": number for number in range(10_000)} | MINIMAL_BODY
        started = time.monotonic()
        assert answer_of(api.post("/auth/user_register", body))["errCode"] == 0
        assert time.monotonic() - started < 2

    def test_10_000_keys_inside_a_field_are_a_bad_field(self, make_app):
        api = Api(make_app(MAX_CONTENT_LENGTH=1024 * 1024).test_client())
        body = {**MINIMAL_BODY, "ex": {f"k{number}": number for number in range(10_000)}}
        answer = assert_bad_field(api.post("/auth/user_register", body), "ex")
        assert len(json.dumps(answer)) < 1000

    def test_10_000_duplicate_keys_within_the_limit(self, client):
        body = json.dumps(MINIMAL_BODY)[:-1] + ',"p":0' * 10_000 + "}"
        assert len(body) < DEFAULT_LIMIT
        assert answer_of(client.post("/auth/user_register", data=body))["errCode"] == 0

    def test_the_last_of_duplicate_keys_wins(self, client):
        first = '{"secret":"%s","platform":1,"userID":"first","nickname":"n","operationID":"o","userID":"last"}'
        data = answer_of(client.post("/auth/user_register", data=first % SECRET))["data"]
        assert data["userID"] == "last"

    def test_a_bad_duplicate_before_a_good_one_is_forgotten(self, client):
        body = '{"secret":"%s","platform":"bad","platform":2,"userID":"u1","nickname":"n","operationID":"o"}'
        assert answer_of(client.post("/auth/user_register", data=body % SECRET))["errCode"] == 0

    def test_a_good_duplicate_before_a_bad_one_is_overruled(self, client):
        body = '{"secret":"%s","platform":2,"platform":"bad","userID":"u1","nickname":"n","operationID":"o"}'
        assert_bad_field(client.post("/auth/user_register", data=body % SECRET), "platform")


def padded_to(size: int) -> bytes:
    """A JSON object of exactly `size` bytes: MINIMAL_BODY and an unknown key to fill it."""
    start = json.dumps(MINIMAL_BODY)[:-1].encode() + b', "pad": "'
    return start + b"p" * (size - len(start) - 2) + b'"}'


def chunked(client, path: str, stream):
    """A POST as gunicorn hands a chunked one over: no Content-Length, the server ends the stream."""
    return client.post(
        path,
        input_stream=stream,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


class EndlessStream:
    """A body that never ends; counts what was read of it."""

    def __init__(self):
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size >= 0, "an endless body cannot be read to its end"
        self.bytes_read += size
        return b" " * size

    # The test client asks where the stream is; it is nowhere in particular.
    def tell(self) -> int:
        return 0

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0


class TestSizeLimit:
    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_at_the_limit_is_read_and_one_byte_over_is_413(self, client, path, endpoint):
        at_limit = padded_to(DEFAULT_LIMIT)
        assert answer_of(client.post(path, data=at_limit))["errMsg"] != "request body too large"
        over = padded_to(DEFAULT_LIMIT + 1)
        response = client.post(path, data=over)
        assert (response.status_code, answer_of(response)["errCode"]) == (413, 400)

    def test_chunked_at_the_limit_is_read(self, client):
        response = chunked(client, "/auth/user_register", io.BytesIO(padded_to(DEFAULT_LIMIT)))
        assert answer_of(response)["errCode"] == 0

    @pytest.mark.parametrize(("path", "endpoint"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_chunked_one_byte_over_is_413(self, client, path, endpoint):
        response = chunked(client, path, io.BytesIO(padded_to(DEFAULT_LIMIT + 1)))
        assert (response.status_code, answer_of(response)["errCode"]) == (413, 400)

    def test_chunked_valid_json_followed_by_more_is_413_not_cut(self, client):
        # The first 64 KiB alone are a valid request: it must not be served.
        body = json.dumps(MINIMAL_BODY).encode()
        body = body + b" " * (DEFAULT_LIMIT - len(body)) + b"and more"
        response = chunked(client, "/auth/user_register", io.BytesIO(body))
        assert (response.status_code, answer_of(response)["errCode"]) == (413, 400)

    def test_endless_chunked_body_is_413_after_reading_about_the_limit(self, client):
        stream = EndlessStream()
        response = chunked(client, "/auth/user_register", stream)
        assert (response.status_code, answer_of(response)["errCode"]) == (413, 400)
        assert stream.bytes_read < DEFAULT_LIMIT + 64 * 1024

    def test_a_raised_limit_is_honoured(self, make_app):
        client = make_app(MAX_CONTENT_LENGTH=2 * DEFAULT_LIMIT).test_client()
        assert answer_of(client.post("/auth/user_register", data=padded_to(2 * DEFAULT_LIMIT)))["errCode"] == 0
        assert client.post("/auth/user_register", data=padded_to(2 * DEFAULT_LIMIT + 1)).status_code == 413


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "TRACE", "PROPFIND", "OPTIONS"])
def test_a_wrong_method_is_405_naming_the_allowed_ones(client, method):
    response = client.open("/auth/user_register", method=method)
    assert (response.status_code, answer_of(response)["errCode"]) == (405, 405)
    assert set(response.headers["Allow"].split(", ")) == {"POST"}
    assert response.mimetype == "application/json"
