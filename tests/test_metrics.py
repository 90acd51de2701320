"""GET /metrics (issue 14, item 1): who may read it, what it counts, and its settings.

In one process (no gunicorn) the metrics live in prometheus_client's default
registry, shared by every app of the test session: tests compare counts
before and after. tests/http/test_metrics_and_logs.py checks the sums over
gunicorn workers.
"""

import ast
import json
import subprocess
import sys
import textwrap

import pytest
from prometheus_client import REGISTRY
from pymysql.err import OperationalError as PyMySQLOperationalError
from sqlalchemy.exc import OperationalError

from app import create_app
from app.config import ConfigError
from app.metrics import REDIS_OPERATIONS
from app.storage.database import retry_transient
from app.web.prometheus import may_read_metrics
from tests.helpers import SECRET, base_config
from tests.repository import REPO_ROOT
from tests.v3_calls import admin_token, code, register_users, user_token

LOOPBACK = ["127.0.0.0/8", "::1/128"]
TOKEN = "a-metrics-token-0123456789"


@pytest.mark.parametrize(
    ("remote_addr", "allowed"),
    [
        ("127.0.0.1", LOOPBACK),
        ("127.8.9.10", LOOPBACK),
        ("::1", LOOPBACK),
        ("::ffff:127.0.0.1", LOOPBACK),  # a dual-stack socket's IPv4 client
        ("10.1.2.3", ["10.0.0.0/8"]),
        ("2001:db8::7", ["2001:db8::/32"]),
    ],
)
def test_an_address_in_an_allowed_network_may_read(remote_addr, allowed):
    assert may_read_metrics(remote_addr, None, allowed, None)


@pytest.mark.parametrize(
    ("remote_addr", "allowed"),
    [
        ("10.1.2.3", LOOPBACK),
        ("::2", LOOPBACK),
        ("127.0.0.1", ["10.0.0.0/8"]),
        ("127.0.0.1", []),
        (None, LOOPBACK),  # a UNIX socket
        ("not-an-address", LOOPBACK),
    ],
)
def test_an_address_outside_every_allowed_network_may_not(remote_addr, allowed):
    assert not may_read_metrics(remote_addr, None, allowed, None)


def test_the_bearer_token_opens_from_anywhere_and_nothing_else_does():
    assert may_read_metrics("203.0.113.9", f"Bearer {TOKEN}", LOOPBACK, TOKEN)
    assert may_read_metrics("203.0.113.9", f"bearer {TOKEN}", [], TOKEN)
    assert not may_read_metrics("203.0.113.9", f"Bearer {TOKEN}x", LOOPBACK, TOKEN)
    assert not may_read_metrics("203.0.113.9", f"Basic {TOKEN}", LOOPBACK, TOKEN)
    assert not may_read_metrics("203.0.113.9", TOKEN, LOOPBACK, TOKEN)
    assert not may_read_metrics("203.0.113.9", "Bearer ", LOOPBACK, None)  # no token configured: none matches


def test_loopback_reads_the_text_format(client):
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    text = answer.get_data(as_text=True)
    for family in ("openim_http_requests", "openim_tokens_issued", "openim_registrations", "openim_kicks"):
        assert f"# TYPE {family}_total counter" in text, family
    assert "# TYPE openim_http_request_duration_seconds histogram" in text


def test_another_address_gets_403_801_unless_it_has_the_token(make_app):
    client = make_app(OPENIM_METRICS_TOKEN=TOKEN).test_client()
    outside = {"REMOTE_ADDR": "198.51.100.4"}
    answer = client.get("/metrics", environ_base=outside)
    assert (answer.status_code, answer.json) == (403, {"errCode": 801, "errMsg": "no permission", "data": None})
    answer = client.get("/metrics", environ_base=outside, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.mimetype == "text/plain"


def test_the_allowed_networks_replace_loopback(make_app):
    client = make_app(OPENIM_METRICS_ALLOW=["198.51.100.0/24"]).test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "198.51.100.4"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 403


def test_metrics_off_means_no_route(make_app):
    assert make_app(OPENIM_METRICS="off").test_client().get("/metrics").status_code == 404


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"OPENIM_METRICS_ALLOW": "127.0.0.1/32"}, "OPENIM_METRICS_ALLOW"),
        ({"OPENIM_METRICS_ALLOW": ["localhost"]}, "'localhost'"),
        ({"OPENIM_METRICS_ALLOW": ["10.0.0.1/8"]}, "host bits set"),
        ({"OPENIM_METRICS_TOKEN": "short"}, "OPENIM_METRICS_TOKEN"),
        ({"OPENIM_METRICS_TOKEN": 12345678901234567}, "OPENIM_METRICS_TOKEN"),
        ({"OPENIM_METRICS": "maybe"}, "OPENIM_METRICS must be true or false"),
        ({"OPENIM_LOG_FORMAT": "xml"}, "OPENIM_LOG_FORMAT"),
    ],
)
def test_bad_settings_stop_the_start(tmp_path, monkeypatch, settings, named):
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=named):
        create_app({**base_config("sqlite://"), **settings})


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_counted(route: str, err_code: str) -> float:
    return sample("openim_http_requests_total", route=route, dialect="v2", err_code=err_code)


def test_the_rules_and_the_requests_are_counted(client):
    def register(user_id, operation_id):
        body = {"secret": SECRET, "platform": 2, "userID": user_id, "nickname": "n", "operationID": operation_id}
        return client.post("/auth/user_register", json=body).json["errCode"]

    before = {
        "registrations": sample("openim_registrations_total"),
        "android": sample("openim_tokens_issued_total", platform="Android"),
        "ipad": sample("openim_tokens_issued_total", platform="IPad"),
        "kicks": sample("openim_kicks_total", platform="IPad"),
        "registered": requests_counted("/auth/user_register", "0"),
        "duplicate": requests_counted("/auth/user_register", "1102"),
        "unknown": requests_counted("<unmatched>", "404"),
        "wrong_method": requests_counted("<unmatched>", "405"),
        "observed": sample("openim_http_request_duration_seconds_count", route="/auth/user_register"),
    }
    assert register("counted", "op-1") == 0
    assert register("counted", "op-1") == 0  # the caller's retry: no second registration, a second token
    assert register("counted", "op-2") == 1102
    token = {"secret": SECRET, "platform": 9, "userID": "counted", "operationID": "op-3"}
    assert client.post("/auth/user_token", json=token).json["errCode"] == 0
    kick = {"secret": SECRET, "platform": 9, "fromUserID": "counted", "operationID": "op-4"}
    assert client.post("/auth/force_logout", json=kick).json["errCode"] == 0
    assert client.get("/no/such/route").status_code == 404
    assert client.get("/auth/user_token").status_code == 405

    assert sample("openim_registrations_total") - before["registrations"] == 1
    assert sample("openim_tokens_issued_total", platform="Android") - before["android"] == 2
    assert sample("openim_tokens_issued_total", platform="IPad") - before["ipad"] == 1
    assert sample("openim_kicks_total", platform="IPad") - before["kicks"] == 1
    assert requests_counted("/auth/user_register", "0") - before["registered"] == 2
    assert requests_counted("/auth/user_register", "1102") - before["duplicate"] == 1
    assert requests_counted("<unmatched>", "404") - before["unknown"] == 1
    assert requests_counted("<unmatched>", "405") - before["wrong_method"] == 1
    assert sample("openim_http_request_duration_seconds_count", route="/auth/user_register") - before["observed"] == 3


def test_v3_tokens_and_batch_registrations_are_counted(v3_client):
    before = {
        "registrations": sample("openim_registrations_total"),
        "admin": sample("openim_tokens_issued_total", platform="Admin"),
        "harmony": sample("openim_tokens_issued_total", platform="HarmonyOS"),
    }
    admin = admin_token(v3_client)
    assert code(register_users(v3_client, admin, "v3-a", "v3-b")) == 0
    assert code(register_users(v3_client, admin, "v3-a", "v3-b")) == 0  # the retry: counted once
    user_token(v3_client, admin, "v3-a", platform=11)

    assert sample("openim_registrations_total") - before["registrations"] == 2
    assert sample("openim_tokens_issued_total", platform="Admin") - before["admin"] == 1
    assert sample("openim_tokens_issued_total", platform="HarmonyOS") - before["harmony"] == 1


def test_a_503_is_counted(app_on, tmp_path):
    client = app_on(f"sqlite:///{tmp_path / 'no-such-folder' / 'openim.db'}").test_client()
    before = sample("openim_http_unavailable_total", route="/auth/user_token")
    before_802 = requests_counted("/auth/user_token", "802")
    body = {"secret": SECRET, "platform": 1, "userID": "nobody", "operationID": "op-503"}
    assert client.post("/auth/user_token", json=body).status_code == 503
    assert sample("openim_http_unavailable_total", route="/auth/user_token") - before == 1
    assert requests_counted("/auth/user_token", "802") - before_802 == 1


def test_a_database_retry_is_counted(app, monkeypatch):
    monkeypatch.setattr("app.storage.database.time.sleep", lambda seconds: None)
    deadlock = OperationalError("COMMIT", None, PyMySQLOperationalError(1213, "Deadlock found"))
    attempts = []

    def deadlocks_twice():
        attempts.append(1)
        if len(attempts) < 3:
            raise deadlock
        return "done"

    before = sample("openim_database_retries_total", error="1213")
    with app.app_context():
        assert retry_transient(deadlocks_twice) == "done"
    assert sample("openim_database_retries_total", error="1213") - before == 2


# A fresh process: the session's registry holds whatever earlier tests counted.
FRESH_SCRAPES = textwrap.dedent(
    """
    import json, sys
    from prometheus_client.parser import text_string_to_metric_families
    from app import create_app
    from tests.helpers import base_config

    def redis_failures(**settings):
        app = create_app({**base_config("sqlite://"), **settings})
        text = app.test_client().get("/metrics").get_data(as_text=True)
        return {
            sample.labels["operation"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "openim_redis_failures"
            for sample in family.samples
            if sample.name == "openim_redis_failures_total"
        }

    json.dump([redis_failures(), redis_failures(OPENIM_REDIS_URL="redis://127.0.0.1:1/0")], sys.stdout)
    """
)


def test_redis_failures_start_at_zero_for_every_operation_when_redis_is_configured(tmp_path):
    """docs/operations.md: with OPENIM_REDIS_URL set, an alert on a Redis failure sees 0, not "no data"."""
    result = subprocess.run(
        [sys.executable, "-c", FRESH_SCRAPES],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "OPENIM_INSTANCE_PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    without_redis, with_redis = json.loads(result.stdout)
    assert without_redis == {}  # no Redis, nothing to fail: no series
    assert with_redis == dict.fromkeys(REDIS_OPERATIONS, 0.0)


def operation_labels_in(path) -> set[str]:
    """The operation names a module hands to TokenState: `_run("…", …)` and `operation="…"` (default or keyword)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "_run" and node.args:
            found.append(node.args[0])
        if isinstance(node, ast.keyword) and node.arg == "operation":
            found.append(node.value)
        if isinstance(node, ast.arguments) and node.defaults:
            with_defaults = [*node.posonlyargs, *node.args][-len(node.defaults) :]
            pairs = zip(with_defaults, node.defaults, strict=True)
            found += [default for argument, default in pairs if argument.arg == "operation"]
    # A name passed on (`self._run(operation, …)`) is counted where its value is written.
    return {node.value for node in found if isinstance(node, ast.Constant)}


def test_the_redis_operations_started_at_zero_are_those_the_code_counts():
    app_dir = REPO_ROOT / "app"
    counted = operation_labels_in(app_dir / "storage" / "openim_redis.py")
    counted |= operation_labels_in(app_dir / "rules" / "token_mirror.py")
    assert counted == set(REDIS_OPERATIONS)
