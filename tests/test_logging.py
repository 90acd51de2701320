"""Secrets and logs (docs/api-v2.md): nothing secret in any log record, one request
line per request, and 500 / 503 answers that tell nothing but the envelope."""

import logging

import pytest

from app import create_app
from app.extensions import db
from app.rules import users
from tests.helpers import SECRET, TOKEN_SECRET, Api, base_config, register_body, request_lines, token_body

WRONG_SECRET = "a-wrong-secret-that-must-not-be-logged"


def exercise_every_outcome(client) -> list[str]:
    """Both endpoints with the right and a wrong secret, a 404, a 405 and a 400; the tokens issued."""
    api = Api(client)
    issued = [api.register("logged-user")]
    assert api.try_register("other", secret=WRONG_SECRET).json["errCode"] == 401
    issued.append(api.user_token("logged-user"))
    assert api.try_user_token("logged-user", secret=WRONG_SECRET).json["errCode"] == 401
    assert client.get("/no/such/route").status_code == 404
    assert client.get("/auth/user_token").status_code == 405
    assert api.try_register("bad-user", gender=7).json["errCode"] == 400
    return issued


def test_no_secret_and_no_token_in_any_log_record(make_app, caplog):
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy keeps its loggers at WARNING unless told; an operator debugging SQL would not.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    app = make_app(OPENIM_PREVIOUS_SECRETS=["a-previous-secret-also-secret"])
    issued = exercise_every_outcome(app.test_client())

    assert any(record.levelno == logging.DEBUG for record in caplog.records)  # DEBUG was captured
    secrets = [SECRET, TOKEN_SECRET, WRONG_SECRET, "a-previous-secret-also-secret", *issued]
    for record in caplog.records:
        shown = record.getMessage() + repr(record.args)
        for secret in secrets:
            assert secret not in shown, f"{record.name}: {record.getMessage()}"
    for secret in secrets:
        assert secret not in caplog.text


def test_one_request_line_per_request(client, caplog):
    caplog.set_level(logging.DEBUG)
    exercise_every_outcome(client)
    assert [(line["route"], line["err_code"]) for line in request_lines(caplog)] == [
        ("/auth/user_register", "0"),
        ("/auth/user_register", "401"),
        ("/auth/user_token", "0"),
        ("/auth/user_token", "401"),
        ("/no/such/route", "404"),
        ("/auth/user_token", "405"),
        ("/auth/user_register", "400"),
    ]
    operation_ids = [line["operation_id"] for line in request_lines(caplog)]
    assert operation_ids[:4] == ['"op-register"', '"op-register"', '"op-token"', '"op-token"']


def test_request_line_takes_the_operation_id_header(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/no/such/route", headers={"operationID": "from-the-header"})
    client.post("/auth/user_register", json={"nickname": ""}, headers={"operationID": "bad-body"})
    assert [(line["operation_id"], line["err_code"]) for line in request_lines(caplog)] == [
        ('"from-the-header"', "404"),
        ('"bad-body"', "400"),
    ]


def test_an_operation_id_cannot_forge_log_lines(client, caplog):
    caplog.set_level(logging.INFO)
    forged = 'x" route=/forged errCode=0\nfake line'
    client.post("/auth/user_token", json=token_body("nobody", operation_id=forged))
    (line,) = request_lines(caplog)
    assert line["route"] == "/auth/user_token"
    assert line["err_code"] == "1101"
    assert "\n" not in line.string


def test_unexpected_error_answers_500_with_the_operation_id_and_no_stack(make_app, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def broken_issue_token(user_id, platform):
        raise RuntimeError(f"internal detail {TOKEN_SECRET}")

    monkeypatch.setattr(users, "issue_token", broken_issue_token)
    answer = app.test_client().post("/auth/user_token", json=token_body("someone", operation_id="op-500"))

    assert answer.status_code == 500
    assert answer.json["errCode"] == 500
    assert "op-500" in answer.json["errMsg"]
    assert answer.json["errMsg"].startswith("server error")
    body = answer.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "internal detail", TOKEN_SECRET, "broken_issue_token"):
        assert leak not in body
    # The log keeps the stack for whoever diagnoses it.
    (failure,) = [record for record in caplog.records if record.exc_info and record.name == "app.web.handlers"]
    assert "op-500" in failure.getMessage()
    assert [line["err_code"] for line in request_lines(caplog)] == ["500"]


UNREACHABLE_DATABASES = {
    "sqlite-file-that-cannot-be-opened": lambda tmp_path: f"sqlite:///{tmp_path / 'no-such-folder' / 'openim.db'}",
    "mysql-nobody-listens": lambda tmp_path: "mysql+pymysql://root@127.0.0.1:9/openim?charset=utf8mb4",
}


@pytest.fixture(params=list(UNREACHABLE_DATABASES))
def app_without_database(request, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(base_config(UNREACHABLE_DATABASES[request.param](tmp_path)))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("route", "body"),
    [("/auth/user_register", register_body("db-user")), ("/auth/user_token", token_body("db-user"))],
)
def test_database_failure_answers_503_db_failed(app_without_database, caplog, route, body):
    caplog.set_level(logging.INFO)
    answer = app_without_database.test_client().post(route, json=body)
    assert answer.status_code == 503
    assert answer.json == {"errCode": 802, "errMsg": "db failed", "data": None}
    errors_logged = [record.getMessage() for record in caplog.records if record.name == "app.web.handlers"]
    assert any(message.startswith("database failed: OperationalError") for message in errors_logged)
    assert not any("SELECT" in message or "INSERT" in message for message in errors_logged)
    assert [line["err_code"] for line in request_lines(caplog)] == ["802"]


def test_a_bad_request_is_logged_with_its_operation_id(client, caplog):
    caplog.set_level(logging.INFO, logger="app.web.request_log")
    client.post("/auth/user_register", json={"operationID": "op-of-a-bad-body", "platform": 0})
    lines = [record.getMessage() for record in caplog.records if "route=/auth/user_register" in record.getMessage()]
    assert len(lines) == 1
    assert 'operationID="op-of-a-bad-body"' in lines[0] and "errCode=400" in lines[0]


def test_under_gunicorn_the_app_logs_through_its_error_log(make_app, monkeypatch):
    """gunicorn configures its error log before it loads the app: the app then writes there, at its level."""
    gunicorn_error_log = logging.getLogger("gunicorn.error")
    written = []

    class Collecting(logging.Handler):
        def emit(self, record):
            written.append(self.format(record))

    handler = Collecting()
    monkeypatch.setattr(gunicorn_error_log, "handlers", [handler])
    monkeypatch.setattr(gunicorn_error_log, "level", logging.INFO)
    app = make_app()
    try:
        assert app.logger.handlers == [handler]
        app.test_client().post("/auth/user_token", json=token_body("nobody", operation_id="op-gunicorn"))
        assert [line for line in written if '"op-gunicorn"' in line and "errCode=1101" in line]

        # Run with --log-level warning, gunicorn's level holds for the app too.
        monkeypatch.setattr(gunicorn_error_log, "level", logging.WARNING)
        assert make_app().logger.level == logging.WARNING
    finally:
        # The "app" logger outlives these apps: give the next ones Flask's default again.
        app.logger.handlers.clear()
        app.logger.setLevel(logging.NOTSET)
