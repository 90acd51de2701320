"""SQLite write transactions take the database's lock file in turn (app/sqlite_writes.py)."""
import fcntl
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from app import sqlite_writes
from app.sqlite_writes import LOCK_FILE_SUFFIX, SerializedWritesConnection


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
        [sys.executable, "-c", (
            "import sqlite3, sys, time; from app.sqlite_writes import SerializedWritesConnection as C;"
            "c = sqlite3.connect(sys.argv[1], timeout=0.05, factory=C); print('ready', flush=True);"
            "t = time.monotonic(); c.cursor().execute('INSERT INTO t VALUES (2)'); c.commit();"
            "print(time.monotonic() - t)"
        ), str(database)],
        stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert other.stdout.readline() == "ready\n"
    time.sleep(0.5)
    assert other.poll() is None  # waiting on the flock, well past its 50 ms busy timeout
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
