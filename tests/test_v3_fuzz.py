"""Fuzzing the v3 routes: schemathesis over /v3/openapi.json, and hypothesis with any JSON.

As tests/test_fuzz.py does for v2, and with its FUZZ_EXAMPLES knob; fewer
examples by default, so that `make test` stays quick.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from app import create_app
from tests.fuzz_values import every_operation, header_values, json_values
from tests.helpers import SECRET, base_config
from tests.v3_calls import ADMIN, V3_CONFIG, admin_token, register_users, user_token

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
SCHEMA_EXAMPLES = FUZZ_EXAMPLES or 25
PROPERTY_EXAMPLES = FUZZ_EXAMPLES or 60
USER = "alice"
# docs/api-v3.md: what a request can be refused with. Anything else (500) fails.
CLIENT_ERROR_CODES = {1001, 1002, 1004, 1102, 1501, 1503, 1504, 1505, 1506, 1507}


@pytest.fixture
def seeded(make_app):
    """An app with an admin token, a user registered and its token: shared by the examples of a test."""
    app = make_app(**V3_CONFIG)
    client = app.test_client()
    admin = admin_token(client)
    register_users(client, admin, USER)
    return app, [admin, user_token(client, admin, USER)]


def prepare(case, tokens: list[str]) -> None:
    """Real tokens and secret for most cases, so that they reach the rules; 1.0 is sent as 1 (Go refuses floats)."""
    if case.headers and isinstance(case.headers.get("token"), str):
        choice = len(case.headers["token"]) % (len(tokens) + 1)
        if choice < len(tokens):
            case.headers["token"] = tokens[choice]
    if isinstance(case.body, dict):
        if isinstance(case.body.get("secret"), str):
            case.body["secret"] = SECRET
        for key, value in case.body.items():
            if isinstance(value, float) and value.is_integer():
                case.body[key] = int(value)


def load_schema():
    document = create_app(base_config("sqlite://")).test_client().get("/v3/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=SCHEMA_EXAMPLES,
        deterministic=True,
        database="none",
    )
    return schema


schema = load_schema()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@schema.parametrize()
def test_every_answer_conforms_to_the_v3_document(case, seeded):
    app, tokens = seeded
    prepare(case, tokens)
    # v3 refuses bad input and missing headers with HTTP 200 and an errCode (as
    # OpenIM v3): the document's oneOf holds such answers to their codes instead.
    http_200_refusals = [schemathesis.checks.negative_data_rejection, schemathesis.checks.missing_required_header]
    response = case.call_and_validate(app=app, excluded_checks=http_200_refusals)
    answer = response.json()
    if "errCode" in answer:
        assert answer["errCode"] == 0 or answer["errCode"] in CLIENT_ERROR_CODES | {404, 405}, answer


property_settings = settings(
    max_examples=PROPERTY_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# v3's body keys, so that generated bodies reach the nested rules.
V3_KEYS = [
    "users", "userID", "nickname", "pagination", "pageNumber", "showNumber", "userInfo", "token", "platformID",
    "checkUserIDs", "userIDs", "secret", "appMangerLevel", "globalRecvMsgOpt", "nickName",
]  # fmt: skip


def v3_containers(children):
    return st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(V3_KEYS), children, max_size=4)


values_with_ids = st.recursive(
    st.sampled_from([SECRET, ADMIN, USER, 0, 1, 10, 11]) | st.text(max_size=8), v3_containers, max_leaves=10
)


@property_settings
@given(
    body=json_values
    | st.dictionaries(st.sampled_from(["users", "pagination", "userInfo", "userIDs"]), values_with_ids),
    operation_id=st.none() | header_values,
    token=st.none() | st.sampled_from([0, 1]) | header_values,
)
def test_any_json_gets_a_v3_envelope_never_a_500(seeded, body, operation_id, token):
    app, tokens = seeded
    headers = {"operationID": operation_id, "token": tokens[token] if isinstance(token, int) else token}
    headers = {name: value for name, value in headers.items() if value is not None}
    client = app.test_client()
    for path, method in every_operation(app, "/v3"):
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code < 500, response.data
        answer = response.get_json()
        if "openapi" in answer:
            continue
        assert {"errCode", "errMsg", "errDlt"} <= set(answer) <= {"errCode", "errMsg", "errDlt", "data"}, answer
        assert answer["errCode"] == 0 or answer["errCode"] in CLIENT_ERROR_CODES, answer
        if answer["errCode"] != 0:
            assert response.status_code == 200 and "data" not in answer
