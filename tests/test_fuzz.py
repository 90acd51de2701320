"""Fuzzing every route: schemathesis over /openapi.json, and hypothesis with any JSON or bytes.

Deterministic (derandomized, no example database) and sized for `make test`;
`make fuzz` runs the same tests with FUZZ_EXAMPLES raising the example counts.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from app import create_app
from app.wire_format.go_json import fold_key
from app.wire_format.schema_base import ALIASES
from tests.fuzz_values import MANAGER, USER, every_operation, header_values, json_values
from tests.helpers import SECRET, Api, base_config

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
# Per route and generation mode for schemathesis; per test for the hypothesis properties.
SCHEMA_EXAMPLES = FUZZ_EXAMPLES or 50
PROPERTY_EXAMPLES = FUZZ_EXAMPLES or 150

MAX_SECRET_LENGTH = 256
# docs/api-v2.md: what a request can be refused with. Anything else (500, 802) fails.
CLIENT_ERROR_CODES = {400, 401, 404, 405, 701, 703, 704, 705, 706, 801, 1101, 1102}


@pytest.fixture
def seeded(make_app):
    """An app with a manager and a user registered, and a live token of each.

    Shared by all the examples of a test on purpose: what one example leaves
    (users, changed profiles, kicked tokens) is what the next one runs into.
    """
    app = make_app(OPENIM_MANAGER_UIDS=[MANAGER])
    api = Api(app.test_client())
    tokens = [
        api.register_manager(MANAGER, operation_id=f"seed-{MANAGER}"),
        api.register(USER, operation_id=f"seed-{USER}"),
    ]
    return app, tokens


def prepare(case, tokens: list[str]) -> None:
    """Rules the document cannot state, applied to a generated case.

    Generated secrets and tokens are wrong and stop at 401: the real ones (for
    most cases) let a case reach the rules and the database. JSON Schema counts
    1.0 as an integer, Go's decoder and this service do not (docs/api-v2.md), so
    integral floats are sent as the integers JSON Schema takes them for. And
    the operationID header stands in for a missing body field, a rule across
    two parts of a request: so a case that leaves the field out, to be
    refused, sends no header either.
    """
    if case.headers and isinstance(case.headers.get("token"), str):
        choice = len(case.headers["token"]) % (len(tokens) + 1)
        if choice < len(tokens):
            case.headers["token"] = tokens[choice]
    if not isinstance(case.body, dict):
        return
    secret = case.body.get("secret")
    if isinstance(secret, str) and len(secret) <= MAX_SECRET_LENGTH:
        case.body["secret"] = SECRET
    for key, value in case.body.items():
        if isinstance(value, float) and value.is_integer():
            case.body[key] = int(value)
    if "operationID" not in case.body and case.headers:
        case.headers.pop("operationID", None)


def spells_a_key_another_way(case) -> bool:
    """Whether the body has a spelling of a documented key other than the canonical one.

    Any spelling satisfies `required` and the last one wins (docs/api-v2.md), which
    JSON Schema cannot say: such a body, generated to break a rule, may well
    keep it. Those cases skip the check that they are refused, and only those.
    """
    if not isinstance(case.body, dict):
        return False
    documented = DOCUMENTED_KEYS.get(case.path, set())
    folded = {fold_key(key) for key in documented} | set(ALIASES)
    return any(key not in documented and fold_key(key) in folded for key in case.body)


def load_document() -> dict:
    return create_app(base_config("sqlite://")).test_client().get("/openapi.json").get_json()


def documented_keys(document: dict) -> dict[str, set[str]]:
    """Path -> the canonical keys of its request body."""
    components = document["components"]["schemas"]
    keys = {}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if "requestBody" in operation:
                reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                keys[path] = set(components[reference.rsplit("/", 1)[-1]]["properties"])
    return keys


def load_schema(document: dict):
    # from_dict rather than from_wsgi, which would leave /openapi.json itself out.
    schema = schemathesis.openapi.from_dict(document)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=SCHEMA_EXAMPLES,
        deterministic=True,
        database="none",
    )
    return schema


DOCUMENT = load_document()
DOCUMENTED_KEYS = documented_keys(DOCUMENT)
schema = load_schema(DOCUMENT)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@schema.parametrize()
def test_every_answer_conforms_to_the_document(case, seeded):
    app, tokens = seeded
    prepare(case, tokens)
    excluded = [schemathesis.checks.negative_data_rejection] if spells_a_key_another_way(case) else []
    case.call_and_validate(app=app, excluded_checks=excluded)


def assert_refused_or_served(response) -> None:
    assert response.status_code < 500, response.data
    if response.request.path == "/metrics" and response.status_code == 200:
        assert response.mimetype == "text/plain" and b"# TYPE openim_http_requests_total counter" in response.data
        return  # Prometheus' text format, to a loopback client
    assert response.is_json, response.data
    answer = response.get_json()
    if set(answer) == {"errCode", "errMsg", "data"}:
        assert answer["errCode"] == 0 or answer["errCode"] in CLIENT_ERROR_CODES, answer
    else:
        assert "openapi" in answer  # /openapi.json: the document, not the envelope


property_settings = settings(
    max_examples=PROPERTY_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@property_settings
@given(
    body=json_values,
    operation_id=st.none() | header_values,
    # An index picks a seeded user's live token; a string is sent as it is.
    token=st.none() | st.sampled_from([0, 1]) | header_values,
)
def test_any_json_gets_an_envelope_never_a_500(seeded, body, operation_id, token):
    app, tokens = seeded
    headers = {"operationID": operation_id, "token": tokens[token] if isinstance(token, int) else token}
    headers = {name: value for name, value in headers.items() if value is not None}
    client = app.test_client()
    for path, method in every_operation(app):
        assert_refused_or_served(client.open(path, method=method, json=body, headers=headers))


@property_settings
@given(body=st.binary(max_size=256) | json_values.map(lambda value: repr(value).encode()))
def test_any_bytes_get_an_envelope_never_a_500(app, client, body):
    for path, method in every_operation(app):
        assert_refused_or_served(client.open(path, method=method, data=body))
