"""Every answer's way out (app/web/every_answer.py): one hook, one timer, for the header, the metrics and the log."""

import logging
import re

from prometheus_client import REGISTRY

from app.web import every_answer


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


LOG_LINE = re.compile(r'operationID="([^"]*)" route=(\S+) errCode=(\S+) duration=([0-9.]+)ms')


def test_one_hook_does_it_all(app):
    """No before_request hook at app level, one after_request: each concern once per request."""
    assert app.before_request_funcs.get(None, []) == []
    assert len(app.after_request_funcs[None]) == 1
    assert issubclass(app.request_class, every_answer.TimedRequest)


def test_the_log_line_and_the_histogram_read_one_timer(client, caplog):
    caplog.set_level(logging.INFO, logger="app.web.request_log")
    route = "/auth/parse_token"
    before = sample("openim_http_request_duration_seconds_sum", route=route)
    response = client.post(route, json={"operationID": "op-timer"})
    observed = sample("openim_http_request_duration_seconds_sum", route=route) - before
    (line,) = [record.getMessage() for record in caplog.records if "op-timer" in record.getMessage()]
    operation_id, logged_route, err_code, duration_ms = LOG_LINE.fullmatch(line).groups()
    assert (operation_id, logged_route, err_code) == ("op-timer", route, str(response.json["errCode"]))
    assert float(duration_ms) == round(observed * 1000, 1)
    assert response.headers["operationID"] == "op-timer"


def test_an_unknown_route_gets_its_line_its_count_and_its_header(client, caplog):
    caplog.set_level(logging.INFO, logger="app.web.request_log")
    before = sample("openim_http_requests_total", route="<unmatched>", dialect="v2", err_code="404")
    response = client.get("/no-such-route", headers={"operationID": "op-404"})
    assert response.status_code == 404 and response.headers["operationID"] == "op-404"
    assert sample("openim_http_requests_total", route="<unmatched>", dialect="v2", err_code="404") == before + 1
    assert [
        record
        for record in caplog.records
        if 'operationID="op-404" route=/no-such-route errCode=404' in record.getMessage()
    ]
