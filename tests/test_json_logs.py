"""OPENIM_LOG_FORMAT=json and the operationID answer header (issue 14, item 3).

Outside gunicorn the app's logger gets a JSON handler (app/serving/log_format.py);
its output is read back here line by line. tests/http/test_metrics_and_logs.py
checks gunicorn's own records.
"""

import io
import json
import logging
import os
import runpy
import subprocess
import sys
from datetime import datetime

import pytest

from app import create_app
from app.rules import users
from app.serving import gunicorn_settings
from app.serving.log_format import JsonHandler, json_formatter
from app.serving.log_safety import OPERATION_ID_LIMIT, PATH_LIMIT, quoted
from tests.helpers import SECRET
from tests.http.server import PROJECT_ROOT

REQUEST_FIELDS = {
    *("time", "level", "logger", "pid", "message"),
    *("operationID", "route", "dialect", "errCode", "status", "duration_ms"),
}


@pytest.fixture
def json_app(make_app):
    app = make_app(OPENIM_LOG_FORMAT="json", PROPAGATE_EXCEPTIONS=False)
    (handler,) = [handler for handler in app.logger.handlers if isinstance(handler, JsonHandler)]
    handler.setStream(io.StringIO())
    yield app
    make_app()  # the "app" logger outlives the app: back to the text format for the next tests


def json_lines(app) -> list[dict]:
    (handler,) = [handler for handler in app.logger.handlers if isinstance(handler, JsonHandler)]
    return [json.loads(line) for line in handler.stream.getvalue().splitlines()]


def request_lines(app) -> list[dict]:
    return [line for line in json_lines(app) if line["logger"] == "app.web.request_log"]


def token_body(user_id: str, operation_id: str, secret: str = SECRET) -> dict:
    return {"secret": secret, "platform": 1, "userID": user_id, "operationID": operation_id}


def test_one_json_object_per_request_with_every_field(json_app, caplog):
    caplog.set_level(logging.INFO)
    client = json_app.test_client()
    register = {**token_body("json-user", "op-ok"), "nickname": "n"}
    assert client.post("/auth/user_register", json=register).status_code == 200
    assert client.post("/auth/user_token", json=token_body("json-user", "op-401", "w" * 20)).status_code == 401
    assert client.post("/auth/user_token", json={"operationID": "op-400", "platform": 0}).status_code == 400
    assert client.get("/no/such/route", headers={"operationID": "op-404"}).status_code == 404
    assert client.get("/metrics").status_code == 200

    lines = request_lines(json_app)
    for line in lines:
        assert set(line) == REQUEST_FIELDS, line
        assert line["pid"] == os.getpid() and line["level"] == "INFO" and line["dialect"] == "v2"
        assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert [(line["operationID"], line["route"], line["errCode"], line["status"]) for line in lines] == [
        ("op-ok", "/auth/user_register", 0, 200),
        ("op-401", "/auth/user_token", 401, 401),
        ("op-400", "/auth/user_token", 400, 400),
        ("op-404", "/no/such/route", 404, 404),
        ("", "/metrics", None, 200),
    ]


def test_other_records_are_json_too_with_the_stack_of_a_500(json_app, monkeypatch):
    def broken_issue_token(user_id, platform):
        raise RuntimeError("internal detail")

    monkeypatch.setattr(users, "issue_token", broken_issue_token)
    answer = json_app.test_client().post("/auth/user_token", json=token_body("someone", "op-500"))
    assert answer.status_code == 500
    (failure,) = [line for line in json_lines(json_app) if line["logger"] == "app.web.handlers"]
    assert failure["level"] == "ERROR"
    assert failure["message"] == 'unexpected RuntimeError (operationID="op-500")'
    assert "Traceback" in failure["exc_info"] and "internal detail" in failure["exc_info"]
    assert [(line["errCode"], line["status"]) for line in request_lines(json_app)] == [(500, 500)]


def test_no_value_can_break_a_json_line(json_app):
    forged = 'x", "errCode": 0}\n{"forged": "line\u2028\x85'
    json_app.test_client().post("/auth/user_token", json=token_body("nobody", forged))
    (line,) = request_lines(json_app)
    assert line["operationID"] == forged and line["errCode"] == 1101


def test_text_stays_the_default(app):
    assert not [handler for handler in app.logger.handlers if isinstance(handler, JsonHandler)]
    assert app.config["OPENIM_LOG_FORMAT"] == "text"


@pytest.mark.parametrize(
    ("request_args", "expected"),
    [
        ({"method": "POST", "path": "/auth/user_token", "json": token_body("nobody", "op-body")}, "op-body"),
        ({"method": "POST", "path": "/auth/user_token", "json": {"operationID": "op-bad-body"}}, "op-bad-body"),
        ({"method": "GET", "path": "/no/such/route", "headers": {"operationID": "op-header"}}, "op-header"),
        ({"method": "GET", "path": "/auth/user_token", "headers": {"operationID": "op-405"}}, "op-405"),
        ({"method": "GET", "path": "/healthz", "headers": {"operationID": "op-health"}}, "op-health"),
        ({"method": "GET", "path": "/metrics", "headers": {"operationID": "op-metrics"}}, "op-metrics"),
        (
            {"method": "POST", "path": "/auth/user_token", "json": token_body("nobody", "100% 用户")},
            "100%25%20%E7%94%A8%E6%88%B7",
        ),
    ],
)
def test_the_answer_carries_the_operation_id(client, request_args, expected):
    answer = client.open(**request_args)
    assert answer.headers["operationID"] == expected


@pytest.mark.parametrize(
    "request_args",
    [
        {"method": "GET", "path": "/healthz"},
        {"method": "GET", "path": "/no/such/route", "headers": {"operationID": "x" * 65}},
        {"method": "GET", "path": "/no/such/route", "headers": {"operationID": "a\x7fb"}},
        {"method": "POST", "path": "/auth/user_token", "json": token_body("nobody", "a\nb")},
    ],
)
def test_no_header_for_a_missing_or_unsafe_operation_id(client, request_args):
    assert "operationID" not in client.open(**request_args).headers


def test_a_500_carries_the_operation_id(make_app, monkeypatch):
    def broken_issue_token(user_id, platform):
        raise RuntimeError("boom")

    monkeypatch.setattr(users, "issue_token", broken_issue_token)
    answer = make_app(PROPAGATE_EXCEPTIONS=False).test_client().post("/auth/user_token", json=token_body("x", "op-500"))
    assert (answer.status_code, answer.headers["operationID"]) == (500, "op-500")


# In a process of its own: gunicorn's logger takes over the global "gunicorn.error" logger.
GUNICORN_LOGGER_SCRIPT = """
import logging, runpy
from gunicorn.config import Config
settings = runpy.run_path("gunicorn.conf.py")
settings["logger_class"](Config()).info("Booting worker with pid: %s", 42)
logging.getLogger("sqlalchemy.pool").warning("a library's warning")
logging.getLogger("app.anything").warning("the app's: gunicorn's handlers write it under gunicorn")
"""


def test_gunicorn_json_logger_writes_its_own_and_the_libraries_records_as_json():
    result = subprocess.run(
        [sys.executable, "-c", GUNICORN_LOGGER_SCRIPT],
        cwd=PROJECT_ROOT,
        env={**os.environ, "OPENIM_LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(line["logger"], line["level"], line["message"]) for line in lines] == [
        ("gunicorn.error", "INFO", "Booting worker with pid: 42"),
        ("sqlalchemy.pool", "WARNING", "a library's warning"),
    ]


def test_gunicorn_writes_the_same_json_objects_as_the_app(monkeypatch):
    monkeypatch.setenv("OPENIM_LOG_FORMAT", "json")
    logger_class = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))["logger_class"]
    assert logger_class is gunicorn_settings.JsonLogger
    gunicorn_formatter = gunicorn_settings.json_formatter()
    record = logging.LogRecord("app.x", logging.WARNING, __file__, 1, "caf\u00e9 %s", ("\n",), None)
    record.operationID = "op"
    assert gunicorn_formatter.format(record) == json_formatter().format(record)
    assert json.loads(json_formatter().format(record))["message"] == "caf\u00e9 \n"


def test_gunicorn_settings_change_nothing_when_read(monkeypatch):
    """Reading gunicorn.conf.py (tests do) must not set PROMETHEUS_MULTIPROC_DIR for what this process starts."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_the_format_and_the_metrics_switch_come_from_the_environment_only(tmp_path, monkeypatch):
    """As gunicorn.conf.py sees them: instance/config.py and FLASK_… cannot make the app disagree with it."""
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLASK_OPENIM_SECRET", SECRET)
    monkeypatch.setenv("FLASK_OPENIM_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite://")
    monkeypatch.setenv("FLASK_OPENIM_LOG_FORMAT", "json")
    (tmp_path / "config.py").write_text("OPENIM_METRICS = False\nOPENIM_LOG_FORMAT = 'json'\n")
    app = create_app()
    assert (app.config["OPENIM_LOG_FORMAT"], app.config["OPENIM_METRICS"]) == ("text", True)
    monkeypatch.setenv("OPENIM_LOG_FORMAT", "json")
    monkeypatch.setenv("OPENIM_METRICS", "off")
    try:
        app = create_app()
        assert (app.config["OPENIM_LOG_FORMAT"], app.config["OPENIM_METRICS"]) == ("json", False)
        assert [handler for handler in app.logger.handlers if isinstance(handler, JsonHandler)]
        assert app.test_client().get("/metrics").status_code == 404
    finally:
        monkeypatch.delenv("OPENIM_LOG_FORMAT")
        create_app()  # the "app" logger outlives the app: back to text


def raw_request_lines(app) -> list[str]:
    (handler,) = [handler for handler in app.logger.handlers if isinstance(handler, JsonHandler)]
    return [line for line in handler.stream.getvalue().splitlines() if '"app.web.request_log"' in line]


def test_an_8000_byte_operation_id_header_costs_a_line_of_normal_size(json_app):
    """As the text format: cut at 64 characters with a note of the full length (app/serving/log_safety.py)."""
    json_app.test_client().get("/no/such/route", headers={"operationID": "\xff" * 8000})
    (raw,) = raw_request_lines(json_app)
    assert len(raw) < 1000, len(raw)
    assert json.loads(raw)["operationID"] == "\xff" * OPERATION_ID_LIMIT + "...(8000chars)"


def test_a_4_kb_path_is_cut_as_in_the_text_format(json_app):
    json_app.test_client().get("/" + "p" * 4095)
    (raw,) = raw_request_lines(json_app)
    assert len(raw) < 1000, len(raw)
    assert json.loads(raw)["route"] == "/" + "p" * (PATH_LIMIT - 1) + "...(4096chars)"


def test_the_json_line_decodes_to_what_the_text_line_quotes(json_app):
    """The operationID of either format decodes to the same value; every non-printable character escaped."""
    operation_id = "a\x7fb\x1b[31m\u2028\x85\u200b" + "c" * 80
    json_app.test_client().get("/no/such/route", headers={"operationID": operation_id.encode().decode("latin-1")})
    (raw,) = raw_request_lines(json_app)
    assert raw.isprintable() and raw.isascii(), raw
    header_value = operation_id.encode().decode("latin-1")  # a header arrives as latin-1 text
    assert json.loads(raw)["operationID"] == json.loads(quoted(header_value))
