"""app/storage/database.py: engine settings per backend, the retry of transient errors, 802 on failure."""

import os
import runpy
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pymysql
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from app import create_app
from app.extensions import db
from app.storage import database, mysql_connections, mysql_waits
from app.storage.database import (
    MAX_ATTEMPTS,
    engine_options,
    is_mysql_driver_connection,
    merge_engine_options,
    retry_transient,
)
from app.storage.mysql_waits import QuickHealthCheckConnection, mysql_engine_options
from app.storage.sqlite_writes import SerializedWritesConnection
from tests.helpers import Api, base_config

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def mysql_error(code: int) -> OperationalError:
    return OperationalError("INSERT ...", {}, pymysql.err.OperationalError(code, "message"))


class TestEngineOptions:
    @pytest.mark.parametrize(
        "uri",
        ["mysql+pymysql://u:p@h/db?charset=utf8mb4", "mariadb+pymysql://u:p@h/db", "mysql://u@h/db"],
    )
    def test_mysql_pings_recycles_and_times_out(self, uri):
        options = engine_options(uri)
        assert options["pool_pre_ping"] is True
        assert 0 < options["pool_recycle"] < 300
        assert options["connect_args"]["charset"] == "utf8mb4"
        assert options["connect_args"]["connect_timeout"] <= 2

    def test_every_wait_ends_before_gunicorn_kills_the_worker(self):
        worker_timeout = runpy.run_path(str(GUNICORN_CONF))["timeout"]
        args = mysql_engine_options()["connect_args"]
        # A dead connection's ping, then a new connection's handshake, then the query.
        worst_case = args["connect_timeout"] + 2 * args["read_timeout"]
        assert worst_case < worker_timeout
        assert mysql_waits.MYSQL_LOCK_WAIT_TIMEOUT_SECONDS < args["read_timeout"]
        assert f"innodb_lock_wait_timeout = {mysql_waits.MYSQL_LOCK_WAIT_TIMEOUT_SECONDS}" in args["init_command"]

    def test_sqlite_waits_for_the_write_lock(self):
        assert engine_options("sqlite:///x.db") == {
            "connect_args": {"timeout": database.SQLITE_BUSY_TIMEOUT_SECONDS, "factory": SerializedWritesConnection}
        }

    def test_overrides_change_one_connect_arg_and_keep_the_others(self):
        merged = merge_engine_options(mysql_engine_options(), {"connect_args": {"read_timeout": 1}, "pool_size": 2})
        assert merged["connect_args"] == {**mysql_engine_options()["connect_args"], "read_timeout": 1}
        assert merged["pool_size"] == 2
        assert merged["pool_pre_ping"] is True

    def test_app_config_overrides_are_merged(self):
        app = create_app(
            {
                **base_config("mysql+pymysql://u@127.0.0.1/db"),
                "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}},
            }
        )
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        assert options["connect_args"]["connect_timeout"] == 1
        assert options["connect_args"]["read_timeout"] == mysql_waits.MYSQL_IO_TIMEOUT_SECONDS
        assert options["hide_parameters"] is True


class TestRetryTransient:
    @pytest.fixture(autouse=True)
    def no_sleep(self, monkeypatch, app):
        monkeypatch.setattr(database.time, "sleep", lambda seconds: None)
        with app.app_context():
            yield

    def failing(self, *codes: int):
        """An operation failing with these MySQL error codes, then answering "done"."""
        calls = []

        def operation():
            calls.append(1)
            if len(calls) <= len(codes):
                raise mysql_error(codes[len(calls) - 1])
            return "done"

        return operation, calls

    @pytest.mark.parametrize("code", [1205, 1213])
    def test_lock_wait_timeout_and_deadlock_are_retried(self, code):
        operation, calls = self.failing(code, code)
        assert retry_transient(operation) == "done"
        assert len(calls) == 3

    @pytest.mark.parametrize("code", [1045, 1062, 2003, 2013])
    def test_other_errors_are_not_retried(self, code):
        operation, calls = self.failing(code)
        with pytest.raises(OperationalError):
            retry_transient(operation)
        assert len(calls) == 1

    def test_retries_stop_when_another_wait_would_not_fit_in_the_budget(self, monkeypatch):
        """A request waits for locks at most LOCK_WAIT_BUDGET_SECONDS in total, retries included."""
        clock = [0.0]
        monkeypatch.setattr(database.time, "monotonic", lambda: clock[0])
        calls = []

        def operation():  # each attempt waits 2 s for a lock, then fails with 1205
            calls.append(clock[0])
            clock[0] += 2
            raise mysql_error(1205)

        with pytest.raises(OperationalError):
            retry_transient(operation)
        # 0 → 2 s, 2 → 4 s; a third attempt would end at 6 s, past the 5 s.
        assert calls == [0, 2]

    def test_retries_are_bounded(self):
        operation, calls = self.failing(*[1213] * MAX_ATTEMPTS)
        with pytest.raises(OperationalError):
            retry_transient(operation)
        assert len(calls) == MAX_ATTEMPTS


@pytest.mark.parametrize(
    "database_path", ["no-such-folder/openim.db", "not-migrated.db"], ids=["cannot-open", "no-tables"]
)
def test_sqlite_failure_answers_503_802(tmp_path, database_path):
    app = create_app(base_config(f"sqlite:///{tmp_path / database_path}"))
    response = Api(app.test_client()).try_register("u")
    assert response.status_code == 503
    assert (response.json["errCode"], response.json["errMsg"]) == (802, "db failed")
    with app.app_context():
        database.db.engine.dispose()


def test_a_subclassed_driver_connection_still_counts_as_mysql():
    """The Galera check must see app/storage/mysql_waits.py's connection class as PyMySQL's (it once did not)."""
    subclassed = QuickHealthCheckConnection.__new__(QuickHealthCheckConnection)
    assert is_mysql_driver_connection(subclassed)
    with closing(sqlite3.connect(":memory:")) as sqlite_connection:
        assert not is_mysql_driver_connection(sqlite_connection)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_sqlite_files_are_private_whatever_the_umask(tmp_path, umask_022):
    """They hold phone numbers, emails and birth dates: 0600, as instance/config.py and exports are."""
    path = tmp_path / "openim.db"
    app = create_app(base_config(f"sqlite:///{path}"))
    with app.app_context():
        database.db.create_all()
    assert Api(app.test_client()).try_register("private", phone_number="13800000000").json["errCode"] == 0
    # The pool keeps its connection open: the write-ahead log and its index are there.
    files = ["openim.db", "openim.db-wal", "openim.db-shm", "openim.db.write-lock"]
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in files}
    with app.app_context():
        database.db.engine.dispose()
    assert modes == dict.fromkeys(files, 0o600)


def test_an_existing_sqlite_file_keeps_its_mode(tmp_path):
    """An operator's choice stands (SECURITY.md tells how to tighten a file created before)."""
    path = tmp_path / "openim.db"
    sqlite3.connect(path).close()
    path.chmod(0o640)
    app = create_app(base_config(f"sqlite:///{path}"))
    with app.app_context():
        database.db.create_all()
        database.db.engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_only_the_services_mysql_engine_marks_its_connections(app):
    """A Connection listener on a SQLite engine would have every statement dispatch events for nothing."""
    with app.app_context():
        marked = event.contains(db.engine, "engine_connect", mysql_connections.mark_used_through_a_connection)
        assert marked == database.is_mysql_uri(str(db.engine.url))
