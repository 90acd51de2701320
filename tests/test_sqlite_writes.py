"""SQLite write transactions take the database's lock file in turn (app/storage/sqlite_writes.py)."""

import fcntl
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from app.storage import sqlite_writes
from app.storage.sqlite_writes import LOCK_FILE_SUFFIX, SerializedWritesConnection
from tests.helpers import lock_file_held


def connect(path, timeout: float = 5.0) -> SerializedWritesConnection:
    return sqlite3.connect(str(path), timeout=timeout, factory=SerializedWritesConnection)


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "writes.db"
    with connect(path) as setup:
        setup.cursor().execute("CREATE TABLE t (x INTEGER)")
    return path


def lock_file_is_free(database) -> bool:
    """Whether another process could take the lock file now."""
    probe = os.open(f"{database}{LOCK_FILE_SUFFIX}", os.O_RDWR)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(probe)
    return True


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_a_write_holds_the_lock_file_until_its_transaction_ends(database, end):
    connection = connect(database)
    connection.cursor().execute("SELECT * FROM t")
    assert not os.path.exists(f"{database}{LOCK_FILE_SUFFIX}") or lock_file_is_free(database)
    connection.cursor().execute("INSERT INTO t VALUES (1)")
    assert not lock_file_is_free(database)
    getattr(connection, end)()
    assert lock_file_is_free(database)


def test_a_writer_in_another_process_waits_for_the_commit(database):
    holder = connect(database)
    holder.cursor().execute("INSERT INTO t VALUES (1)")
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sqlite3, sys, time; from app.storage.sqlite_writes import SerializedWritesConnection as C;"
                "c = sqlite3.connect(sys.argv[1], timeout=5, factory=C); print('ready', flush=True);"
                "t = time.monotonic(); c.cursor().execute('INSERT INTO t VALUES (2)'); c.commit();"
                "print(time.monotonic() - t)"
            ),
            str(database),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert other.stdout.readline() == "ready\n"
    time.sleep(0.5)
    assert other.poll() is None  # waiting on the flock
    holder.commit()
    output, _ = other.communicate(timeout=10)
    assert other.returncode == 0 and float(output) >= 0.4
    assert connect(database).cursor().execute("SELECT COUNT(*) FROM t").fetchone() == (2,)


def test_a_second_connection_of_the_same_thread_gets_database_is_locked(database):
    first, second = connect(database), connect(database, timeout=0.1)
    first.cursor().execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        second.cursor().execute("INSERT INTO t VALUES (2)")
    first.commit()
    second.cursor().execute("INSERT INTO t VALUES (2)")
    second.commit()


def test_without_a_lock_file_the_write_goes_ahead(database, monkeypatch):
    def cannot_open(path):
        raise PermissionError(path)

    monkeypatch.setattr(sqlite_writes, "_ProcessWriteLock", cannot_open)
    monkeypatch.setattr(sqlite_writes, "_locks", {})
    connection = connect(database)
    connection.cursor().execute("INSERT INTO t VALUES (1)")
    connection.commit()
    assert connection.cursor().execute("SELECT COUNT(*) FROM t").fetchone() == (1,)


def test_an_in_memory_database_takes_no_lock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    memory = sqlite3.connect(":memory:", factory=SerializedWritesConnection)
    memory.cursor().execute("CREATE TABLE t (x INTEGER)")
    memory.cursor().execute("INSERT INTO t VALUES (1)")
    assert memory._write_lock is None
    memory.commit()
    assert not list(tmp_path.iterdir())


def test_a_lock_file_held_longer_than_the_timeout_ends_the_wait_as_database_is_locked(database):
    """A stuck holder costs the waiting writer its busy timeout, then "database is locked" (503/802)."""
    writer = connect(database, timeout=0.5)
    with lock_file_held(database):
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            writer.cursor().execute("INSERT INTO t VALUES (1)")
        waited = time.monotonic() - started
        assert 0.4 <= waited < 5, waited
        assert writer._write_lock is None
    # The holder gone, the same connection writes again.
    writer.cursor().execute("INSERT INTO t VALUES (1)")
    writer.commit()
    assert writer.cursor().execute("SELECT COUNT(*) FROM t").fetchone() == (1,)


def test_the_wait_for_the_in_process_lock_counts_against_the_same_timeout(database):
    import threading

    holder = connect(database)
    holder.cursor().execute("INSERT INTO t VALUES (1)")  # this thread holds the process's lock
    outcome = {}

    def write_from_another_thread() -> None:
        other = connect(database, timeout=0.3)
        started = time.monotonic()
        try:
            other.cursor().execute("INSERT INTO t VALUES (2)")
        except sqlite3.OperationalError as error:
            outcome["error"] = str(error)
        outcome["waited"] = time.monotonic() - started

    thread = threading.Thread(target=write_from_another_thread)
    thread.start()
    thread.join(10)
    holder.commit()
    assert outcome["error"] == "database is locked"
    assert 0.25 <= outcome["waited"] < 3
