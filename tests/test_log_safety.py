"""No caller can split, forge or flood a log line (app/serving/log_safety.py, issue 12)."""

import json
import logging
import re
import sys
import unicodedata

import pytest

from app.rules import users
from app.serving.log_safety import OPERATION_ID_LIMIT, escaped, quoted
from tests.helpers import request_lines, token_body

# Everything some reader takes for the end of a line, or a terminal for a command.
LINE_BREAKERS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x1b", "\x9b"]
# Characters that print nothing, or look like something else.
INVISIBLE = ["\x00", "\x7f", "\u00a0", "\u200b", "\u200e", "\u202e", "\u2066", "\ufeff", "\U000e0001", "\U0010fffd"]


def every_non_printable_character() -> list[str]:
    return [chr(code) for code in range(sys.maxunicode + 1) if not chr(code).isprintable()]


@pytest.mark.parametrize("character", LINE_BREAKERS + INVISIBLE)
def test_every_breaking_or_invisible_character_is_escaped(character):
    logged = quoted(f"a{character}b")
    assert logged.isprintable() and logged.isascii()
    assert json.loads(logged) == f"a{character}b"


def test_no_non_printable_character_survives():
    every = "".join(every_non_printable_character())
    for start in range(0, len(every), 60):
        piece = every[start : start + 60]
        logged = quoted(piece, limit=len(piece))
        assert logged.isprintable(), [c for c in logged if not c.isprintable()]
        if not any(unicodedata.category(c) == "Cs" for c in piece):  # JSON would pair adjacent surrogates
            assert json.loads(logged) == piece
    categories = {unicodedata.category(c) for c in every}
    assert {"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cn"} <= categories


def test_quotes_and_backslashes_cannot_close_the_value():
    assert quoted('x" route=/forged \\') == '"x\\" route=/forged \\\\"'


def test_printable_text_is_kept_as_it_is():
    assert quoted("op-1 é 中文 😀") == '"op-1 é 中文 😀"'


def test_a_long_value_is_cut_and_says_how_long_it_was():
    logged = quoted("x" * 8000)
    assert logged == '"' + "x" * OPERATION_ID_LIMIT + '...(8000chars)"'
    assert quoted("x" * OPERATION_ID_LIMIT) == '"' + "x" * OPERATION_ID_LIMIT + '"'


def test_spaces_can_be_escaped_for_a_bare_word():
    assert escaped("/a b\u2028", 100, escape_space=True) == "/a\\u0020b\\u2028"


def single_line_records(caplog) -> list[str]:
    messages = [record.getMessage() for record in caplog.records]
    for message in messages:
        assert message.isprintable(), message
        assert not re.search(r"[\n\r\x85\u2028\u2029]", message)
    return messages


@pytest.mark.parametrize("breaker", LINE_BREAKERS)
def test_an_operation_id_in_the_body_cannot_split_the_request_line(client, caplog, breaker):
    caplog.set_level(logging.INFO)
    forged = f'x{breaker}operationID="forged" route=/auth/user_token errCode=0 duration=1.0ms'
    client.post("/auth/user_token", json=token_body("nobody", operation_id=forged[:64]))
    single_line_records(caplog)
    (line,) = request_lines(caplog)
    assert (line["route"], line["err_code"]) == ("/auth/user_token", "1101")
    assert json.loads(line["operation_id"]) == forged[:64]


def test_an_8000_character_operation_id_header_is_logged_capped(client, caplog):
    caplog.set_level(logging.INFO)
    header = "h\x85" * 4000
    answer = client.post("/auth/user_token", data=b"not json", headers={"operationID": header})
    assert answer.json["errCode"] == 400
    messages = single_line_records(caplog)
    assert all(len(message) < 600 for message in messages), max(messages, key=len)
    (line,) = request_lines(caplog)
    assert line["operation_id"].endswith('...(8000chars)"')


def test_a_hostile_path_cannot_split_the_request_line(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/x%0Aroute=/auth/user_token%E2%80%A8errCode=0%C2%85 y" + "z" * 1000)
    messages = single_line_records(caplog)
    (line,) = request_lines(caplog)
    assert line["err_code"] == "404"
    assert line["route"].startswith("/x\\nroute=/auth/user_token\\u2028errCode=0\\u0085\\u0020y")
    assert all(len(message) < 600 for message in messages)


def test_an_unexpected_error_logs_the_operation_id_escaped_and_capped(make_app, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def broken_issue_token(user_id, platform):
        raise RuntimeError("boom")

    monkeypatch.setattr(users, "issue_token", broken_issue_token)
    operation_id = "op\u2028" + "y" * 61
    answer = app.test_client().post("/auth/user_token", json=token_body("u", operation_id=operation_id))
    assert answer.status_code == 500
    (failure,) = [record for record in caplog.records if record.name == "app.web.handlers"]
    assert "op\\u2028yyy" in failure.getMessage() and "\u2028" not in failure.getMessage()
