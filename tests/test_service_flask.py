"""The app's Flask class (app/web/service_flask.py): no cookie session, and ensure_sync asked once per function."""

import flask.app
import pytest
from flask import session
from flask.sessions import NullSession


def test_requests_share_one_session_that_takes_no_writes(app):
    seen = []

    @app.get("/session-probe")
    def probe():
        seen.append(session._get_current_object())
        with pytest.raises(RuntimeError, match="secret key"):
            session["user"] = "alice"
        return "ok"

    client = app.test_client()
    for _ in range(2):
        response = client.get("/session-probe")
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
    assert isinstance(seen[0], NullSession) and seen[0] is seen[1]
    assert dict(seen[0]) == {}


def test_each_function_is_asked_once_whether_it_is_a_coroutine(app, monkeypatch):
    asked = []
    real_check = flask.app.iscoroutinefunction

    def counting_check(func):
        asked.append(func)
        return real_check(func)

    monkeypatch.setattr(flask.app, "iscoroutinefunction", counting_check)
    client = app.test_client()
    client.get("/no-such-route")
    after_first = len(asked)
    assert after_first > 0  # the after-request hook, the teardowns, the 404's handler
    for _ in range(3):
        assert client.get("/no-such-route").status_code == 404
    assert len(asked) == after_first


def test_a_coroutine_function_is_still_told_apart(app):
    async def view():
        return "never"

    def plain():
        return "plain"

    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(plain) is plain
    # Flask runs a coroutine function only with its async extra, which the service does not install:
    # telling it apart is what makes Flask say so, the second time as the first.
    for _ in range(2):
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(view)
