"""The request line's record and gunicorn's text format cost less and write the same (app/web/request_log.py,
app/serving/log_format.py TextFormatter)."""

import logging
import os
import time

import pytest
from gunicorn.config import Config

from app.serving.gunicorn_access_log import EscapingLogger
from app.serving.log_format import TextFormatter
from app.web import request_log

ARGUMENTS = ('"op-1"', "/auth/user_token", 0, 1.25)
# What the LogRecord of each line has of its own; every other field is the same in each.
OWN_TIME = {"created", "msecs", "relativeCreated"}


def made_by_logging(arguments=ARGUMENTS) -> logging.LogRecord:
    return request_log.logger.makeRecord(
        request_log.logger.name, logging.INFO, request_log.__file__, 0, request_log.TEXT_LINE, arguments, None,
        "log_request",
    )  # fmt: skip


def test_the_record_has_every_field_that_makeRecord_gives_with_the_same_values():
    before = made_by_logging()
    record = request_log._text_records.new(ARGUMENTS)
    after = made_by_logging()
    assert type(record) is logging.LogRecord
    assert record.__dict__.keys() == before.__dict__.keys()
    assert {key: value for key, value in record.__dict__.items() if key not in OWN_TIME} == {
        key: value for key, value in before.__dict__.items() if key not in OWN_TIME
    }
    for field in OWN_TIME - {"msecs"}:
        assert getattr(before, field) <= getattr(record, field) <= getattr(after, field)
    assert record.msecs == int((record.created - int(record.created)) * 1000)
    assert record.getMessage() == 'operationID="op-1" route=/auth/user_token errCode=0 duration=1.2ms'


def test_a_forked_worker_records_its_own_pid():
    request_log._text_records.new(ARGUMENTS)  # the parent's template made
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        try:
            os.write(writing, str(request_log._text_records.new(ARGUMENTS).process).encode())
        finally:
            os._exit(0)
    os.close(writing)
    reported = os.read(reading, 64).decode()
    os.close(reading)
    os.waitpid(child, 0)
    assert reported == str(child)


def test_another_record_factory_is_still_used():
    class Tagged(logging.LogRecord):
        pass

    logging.setLogRecordFactory(Tagged)
    try:
        assert type(request_log._text_records.new(ARGUMENTS)) is Tagged
    finally:
        logging.setLogRecordFactory(logging.LogRecord)


GUNICORN_FORMAT = ("%(asctime)s [%(process)d] [%(levelname)s] %(message)s", "[%Y-%m-%d %H:%M:%S %z]")


@pytest.mark.parametrize("second", [1_800_000_000, 1_800_000_000.999, 1_800_000_001.5, 1_799_999_999.0])
def test_the_text_format_writes_what_loggings_writes_at_each_second(second):
    ours, logging_own = TextFormatter(*GUNICORN_FORMAT), logging.Formatter(*GUNICORN_FORMAT)
    for created in (1_800_000_000.5, second, second, 1_800_000_000.5):
        record = made_by_logging()
        record.created = created
        assert ours.format(record) == logging_own.format(record)


def test_without_a_date_format_the_milliseconds_stay():
    record = made_by_logging()
    assert TextFormatter("%(asctime)s").format(record) == logging.Formatter("%(asctime)s").format(record)
    record.created, record.msecs = record.created + 0.25, (record.msecs + 250) % 1000
    assert TextFormatter("%(asctime)s").format(record) == logging.Formatter("%(asctime)s").format(record)


def test_gunicorns_error_log_uses_it_with_gunicorns_own_format():
    gunicorns = [logging.getLogger(name) for name in ("gunicorn.error", "gunicorn.access")]
    saved = [(log, list(log.handlers), log.propagate, log.level) for log in gunicorns]
    logger = EscapingLogger(Config())
    try:
        formatters = [handler.formatter for handler in logger.error_log.handlers]
        assert formatters and all(type(formatter) is TextFormatter for formatter in formatters)
        assert (formatters[0]._fmt, formatters[0].datefmt) == (logger.error_fmt, logger.datefmt)
        record = made_by_logging()
        record.created = time.time()
        assert formatters[0].format(record) == logging.Formatter(logger.error_fmt, logger.datefmt).format(record)
    finally:  # as the other tests expect them: no handlers, so the app logs through its own
        for log, handlers, propagate, level in saved:
            log.handlers[:] = handlers
            log.propagate, log.level = propagate, level
