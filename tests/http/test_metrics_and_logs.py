"""GET /metrics and JSON logs under real gunicorn with several workers (issue 14, items 1 and 3).

Counts add up exactly across workers, a worker killed with SIGKILL takes none
of its counts with it, the metrics directory is emptied at each start, and
with OPENIM_LOG_FORMAT=json every line gunicorn writes, its own and the app's,
is a JSON object.
"""

import json
import os
import signal
import time
import uuid
from collections import Counter

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app.openim import V3_PLATFORM_NAMES
from tests.helpers import SECRET
from tests.http.server import REQUEST_TIMEOUT_SECONDS, all_at_once, worker_pids

pytestmark = pytest.mark.http

WORKERS = 3
MAX_UNKNOWN_REQUESTS = 200
RESPAWN_TIMEOUT_SECONDS = 30


def scrape(server) -> dict:
    """(sample name, labels) -> value, from the server's /metrics."""
    with requests.get(server.url + "/metrics", timeout=REQUEST_TIMEOUT_SECONDS) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: dict, route: str, err_code: str) -> float:
    return value(samples, "openim_http_requests_total", route=route, dialect="v2", err_code=err_code)


def token_body(user_id: str, platform: int = 1, secret: str = SECRET) -> dict:
    return {"secret": secret, "platform": platform, "userID": user_id, "operationID": uuid.uuid4().hex}


def kick_body(user_id: str) -> dict:
    return {"secret": SECRET, "platform": 1, "fromUserID": user_id, "operationID": uuid.uuid4().hex}


def get_unknown(server) -> tuple[int, dict]:
    return server.get(f"/no/such/{uuid.uuid4().hex}")


def request_lines(server) -> list[dict]:
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("logger") == "app.web.request_log"]


@pytest.fixture
def metrics_dir(tmp_path):
    path = tmp_path / "metrics"
    path.mkdir()
    return path


def test_counts_add_up_across_workers_and_survive_a_killed_worker(
    start_server, http_database_url, unique_id, metrics_dir
):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "OPENIM_LOG_FORMAT": "json"}
    server = start_server(http_database_url, workers=WORKERS, extra_env=env)
    users = [unique_id(f"m{number}") for number in range(12)]
    user = users[0]
    retried_operation = uuid.uuid4().hex

    assert {answer["errCode"] for _, answer in all_at_once([lambda u=u: server.register(u) for u in users])} == {0}
    assert server.register(unique_id("retried"), retried_operation)[1]["errCode"] == 0
    assert server.register(unique_id("retried"), retried_operation)[1]["errCode"] == 0  # a retry: no new user
    tokens = [lambda p=p: server.user_token(user, p) for p in range(1, 10) for _ in range(2)]
    assert {answer["errCode"] for _, answer in all_at_once(tokens)} == {0}
    wrong_secret = [lambda: server.post("/auth/user_token", token_body(user, secret="x" * 20)) for _ in range(4)]
    assert {answer["errCode"] for _, answer in all_at_once(wrong_secret)} == {401}
    unregistered = [lambda: server.post("/auth/user_token", token_body(unique_id("ghost"))) for _ in range(2)]
    assert {answer["errCode"] for _, answer in all_at_once(unregistered)} == {1101}
    kicks = [lambda: server.post("/auth/force_logout", kick_body(user)) for _ in range(3)]
    assert {answer["errCode"] for _, answer in all_at_once(kicks)} == {0}
    # The counts below must come from several workers (the request log says which). On a busy
    # machine one worker can win every accept: 404s, five at once, until another has served one.
    unknown, served_by = 0, Counter()
    while len(served_by) < 2 and unknown < MAX_UNKNOWN_REQUESTS:
        assert {answer["errCode"] for _, answer in all_at_once([lambda: get_unknown(server)] * 5)} == {404}
        unknown += 5
        served_by = Counter(line["pid"] for line in request_lines(server))
    assert len(served_by) >= 2, served_by

    samples = scrape(server)
    assert value(samples, "openim_registrations_total") == 13
    # Platform 1: the registrations, two user_token, the first registration of "retried" and its retry.
    assert value(samples, "openim_tokens_issued_total", platform="IOS") == 12 + 2 + 2
    for platform in ("Android", "Windows", "OSX", "Web", "MiniWeb", "Linux", "APad", "IPad"):
        assert value(samples, "openim_tokens_issued_total", platform=platform) == 2, platform
    assert value(samples, "openim_kicks_total", platform="IOS") == 3
    assert requests_of(samples, "/auth/user_register", "0") == 14
    assert requests_of(samples, "/auth/user_token", "0") == 18
    assert requests_of(samples, "/auth/user_token", "401") == 4
    assert requests_of(samples, "/auth/user_token", "1101") == 2
    assert requests_of(samples, "/auth/force_logout", "0") == 3
    assert requests_of(samples, "<unmatched>", "404") == unknown + 1  # and the readiness probe of the start
    assert value(samples, "openim_http_request_duration_seconds_count", route="/auth/user_token") == 24
    assert value(samples, "openim_http_request_duration_seconds_bucket", route="/auth/user_token", le="+Inf") == 24
    assert value(samples, "openim_http_unavailable_total", route="/auth/user_token") == 0

    # SIGKILL the busiest worker: gunicorn replaces it, and its counts stay in the totals.
    master = server.process.pid
    busiest = max(worker_pids(master), key=lambda pid: served_by.get(pid, 0))
    assert served_by[busiest] > 0
    os.kill(busiest, signal.SIGKILL)
    deadline = time.monotonic() + RESPAWN_TIMEOUT_SECONDS
    while busiest in worker_pids(master) or len(worker_pids(master)) < WORKERS:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.1)
    more = [lambda: server.user_token(user, 2) for _ in range(6)]
    assert {answer["errCode"] for _, answer in all_at_once(more)} == {0}

    after = scrape(server)
    assert value(after, "openim_registrations_total") == 13
    assert value(after, "openim_tokens_issued_total", platform="Android") == 2 + 6
    assert value(after, "openim_tokens_issued_total", platform="IOS") == 16
    assert requests_of(after, "/auth/user_token", "0") == 18 + 6
    assert requests_of(after, "/auth/user_register", "0") == 14
    assert requests_of(after, "/metrics", "-") == 1  # the first scrape
    assert any(name.endswith(f"_{busiest}.db") for name in os.listdir(metrics_dir))  # its counts, kept


def test_the_metrics_directory_is_emptied_at_each_start(start_server, http_database_url, unique_id, metrics_dir):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    first = start_server(http_database_url, workers=2, extra_env=env)
    assert first.register(unique_id("first-run"))[1]["errCode"] == 0
    assert value(scrape(first), "openim_registrations_total") == 1
    first.stop()
    first.wait_stopped()
    earlier_files = set(os.listdir(metrics_dir))
    assert any(name.startswith("counter_") for name in earlier_files), earlier_files
    # Not even a file prometheus_client cannot read survives a start.
    (metrics_dir / "counter_999999.db").write_bytes(b"not a metrics file")

    second = start_server(http_database_url, workers=2, extra_env=env)
    samples = scrape(second)
    assert value(samples, "openim_registrations_total") == 0
    assert requests_of(samples, "/auth/user_register", "0") == 0
    assert requests_of(samples, "<unmatched>", "404") == 1  # this start's readiness probe only
    assert not earlier_files & set(os.listdir(metrics_dir))


def test_only_loopback_reads_metrics_by_default_and_the_answer_says_so(start_server, http_database_url):
    server = start_server(http_database_url, workers=1, extra_env={"FLASK_OPENIM_METRICS_ALLOW": '["192.0.2.0/24"]'})
    status, answer = server.get("/metrics")  # from 127.0.0.1, now outside the allowed networks
    assert (status, answer) == (403, {"errCode": 801, "errMsg": "no permission", "data": None})


def test_json_logs_under_gunicorn_are_json_objects_every_line(start_server, http_database_url, unique_id):
    server = start_server(http_database_url, workers=2, extra_env={"OPENIM_LOG_FORMAT": "json"})
    user = unique_id("json")
    operation_id = "op-json-" + uuid.uuid4().hex
    with requests.post(
        server.url + "/auth/user_register",
        json={"secret": SECRET, "platform": 5, "userID": user, "nickname": "n", "operationID": operation_id},
        timeout=REQUEST_TIMEOUT_SECONDS,
    ) as response:
        assert response.json()["errCode"] == 0
        assert response.headers["operationID"] == operation_id
    with requests.post(
        server.url + "/auth/user_token", json=token_body(user, secret="w" * 20), timeout=REQUEST_TIMEOUT_SECONDS
    ) as response:
        assert response.status_code == 401
        refused_operation = response.headers["operationID"]
    server.stop()
    server.wait_stopped()

    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.strip()]
    for line in lines:
        assert {"time", "level", "logger", "pid", "message"} <= set(line), line
    own = [line for line in lines if line["logger"] == "gunicorn.error"]
    assert any(line["message"].startswith("Booting worker with pid") for line in own), own
    assert any(line["message"] == "Shutting down: Master" for line in own), own
    by_operation = {line["operationID"]: line for line in request_lines(server)}
    success, refused = by_operation[operation_id], by_operation[refused_operation]
    assert (success["route"], success["dialect"], success["errCode"], success["status"]) == (
        "/auth/user_register",
        "v2",
        0,
        200,
    )
    assert (refused["route"], refused["errCode"], refused["status"]) == ("/auth/user_token", 401, 401)
    assert success["level"] == "INFO" and success["duration_ms"] >= 0 and success["pid"] != server.process.pid
    assert not [line for line in lines if line["logger"] == "gunicorn.access"]  # off by default
    # No PROMETHEUS_MULTIPROC_DIR given: the instance made a directory of its own, and removed it at exit.
    (made,) = [line["message"].split(": ", 1)[1] for line in own if line["message"].startswith("Metrics directory: ")]
    assert os.path.basename(made).startswith("openim-metrics-")
    assert not os.path.exists(made)


DOCUMENTED_FAMILIES = {
    "openim_http_requests",
    "openim_http_request_duration_seconds",
    "openim_http_unavailable",
    "openim_tokens_issued",
    "openim_registrations",
    "openim_kicks",
    "openim_database_retries",
}


def test_a_fresh_instance_shows_every_family_at_zero_for_its_known_labels(start_server, http_database_url, metrics_dir):
    """So that an alert sees 0, not "no data", before the first token, kick, 503 or retry."""
    server = start_server(http_database_url, workers=2, extra_env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    with requests.get(server.url + "/metrics", timeout=REQUEST_TIMEOUT_SECONDS) as response:
        families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert DOCUMENTED_FAMILIES <= set(families), sorted(families)
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families.values()
        for sample in family.samples
    }

    def zero(name: str, **labels) -> bool:
        return samples.get((name, frozenset(labels.items()))) == 0

    assert zero("openim_registrations_total")
    for platform in V3_PLATFORM_NAMES.values():
        assert zero("openim_tokens_issued_total", platform=platform), platform
        assert zero("openim_kicks_total", platform=platform), platform
    assert zero("openim_kicks_total", platform="all")
    assert zero("openim_database_retries_total", error="1205") and zero("openim_database_retries_total", error="1213")
    for route, dialect in [("/auth/user_token", "v2"), ("/v3/auth/get_user_token", "v3"), ("/healthz", "v2")]:
        assert zero("openim_http_unavailable_total", route=route), route
        assert zero("openim_http_requests_total", route=route, dialect=dialect, err_code="0"), route
        assert zero("openim_http_request_duration_seconds_count", route=route), route
        assert zero("openim_http_request_duration_seconds_bucket", route=route, le="+Inf"), route
    # An answer without an errCode is counted with "-".
    assert zero("openim_http_requests_total", route="/openapi.json", dialect="v2", err_code="-")
