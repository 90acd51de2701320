"""SQLite write transactions taken in turn, across the processes sharing one file.

SQLite lets one writer at a time into a database file. A writer that finds
the lock taken sleeps in SQLite's busy handler (1, 2, 5, 10, ... ms) and
tries again, while a write transaction of this service holds the lock for
about a tenth of a millisecond: under load the gunicorn workers spend more
time asleep than writing. So each connection first takes an flock on a lock
file next to the database, from its first write statement until its commit,
rollback or close: a waiting worker tries it again after pauses of 50 µs
doubling to 1 ms, so it takes the lock about when it is freed. SQLite's own
lock still decides who writes; the flock only makes the wait short. Reads
(WAL mode) take no lock and wait for nothing.

The wait for the lock file ends with the connection's busy timeout, as
SQLite's own wait would: a process that holds the lock for longer (a stuck
worker, an admin's long transaction) costs the others "database is locked"
(503/802), never a worker killed by gunicorn's timeout. (A blocking flock
cannot be given a timeout; a waiting worker polls, with LOCK_NB.) The two
waits share that timeout: after a wait for the lock file, SQLite's own wait
(for a writer outside the service, such as the sqlite3 shell, that holds
SQLite's lock) gets what is left of it, until the transaction ends.

A database file the connection creates is created 0600: it holds phone
numbers, emails and birth dates. SQLite gives the write-ahead log (-wal) and
its index (-shm) the mode of the database file, so they are 0600 too. A file
that exists keeps its mode.

Used as the `factory` of sqlite3.connect (see database.engine_options).
"""

import contextlib
import fcntl
import os
import sqlite3
import threading
import time

# Statements before which the sqlite3 module opens a transaction, which then
# holds SQLite's write lock until it ends.
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
LOCK_FILE_SUFFIX = ".write-lock"
# Polling for a lock file held by another process: the first pause, doubled up
# to the longest. Short next to a write transaction's tenth of a millisecond
# of work and the request around it, so a freed lock is taken at once.
FIRST_PAUSE_SECONDS = 0.00005
LONGEST_PAUSE_SECONDS = 0.001


def database_is_locked() -> sqlite3.OperationalError:
    return sqlite3.OperationalError("database is locked")


class _ProcessWriteLock:
    """The lock file of one database, opened once per process.

    An flock belongs to an open file, so two connections of one process
    sharing the file would not exclude each other: the thread lock takes
    turns inside the process, the flock between processes. A thread that
    already writes on one connection and then writes on a second one waits
    for itself: it gets SQLite's "database is locked" after the busy timeout,
    as it would without the flock.
    """

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._in_process = threading.Lock()

    def acquire(self, deadline: float) -> bool:
        """Take the lock by `deadline` (time.monotonic), or raise "database is locked"; whether it waited."""
        if self._in_process.acquire(blocking=False):
            waited = False
        elif self._in_process.acquire(timeout=max(deadline - time.monotonic(), 0)):
            waited = True
        else:
            raise database_is_locked()
        try:
            return self._take_file_lock(deadline) or waited
        except BaseException:
            self._in_process.release()
            raise

    def _take_file_lock(self, deadline: float) -> bool:
        # Usually held by a write transaction of another worker, which ends
        # (commit, rollback, or the death of its process) in moments.
        pause = FIRST_PAUSE_SECONDS
        waited = False
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return waited
            except BlockingIOError:
                waited = True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise database_is_locked() from None
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, LONGEST_PAUSE_SECONDS)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._in_process.release()


_locks: dict[tuple[int, str], _ProcessWriteLock] = {}
_locks_guard = threading.Lock()


def _lock_for(database_path: str) -> _ProcessWriteLock | None:
    """The process's lock for this database; None while the lock file cannot be opened.

    On a read-only or full disk the write goes ahead without the flock, and
    SQLite answers it with its own error (503/802); the next write tries again.
    """
    # Keyed by process too: a lock file opened before a fork is one open file
    # shared by parent and child, whose flocks would not exclude each other.
    key = (os.getpid(), database_path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            try:
                lock = _locks[key] = _ProcessWriteLock(database_path + LOCK_FILE_SUFFIX)
            except OSError:
                return None
        return lock


def _is_file(database) -> bool:
    name = os.fspath(database)
    return bool(name) and name != ":memory:" and not name.startswith("file:")


def _create_private(path: str) -> None:
    """Create the database file 0600 before SQLite would create it 0644 (under the usual umask)."""
    # A file that exists keeps its mode; a missing folder or a read-only disk
    # fails SQLite's own open, which says so.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


class SerializedWritesConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions hold the database's lock file."""

    def __init__(self, database, timeout: float = 5.0, **kwargs):
        if _is_file(database):
            _create_private(os.fspath(database))
        super().__init__(database, timeout=timeout, **kwargs)  # positional: deprecated since Python 3.13
        self._busy_timeout = timeout
        self._database_path = os.path.abspath(os.fspath(database)) if _is_file(database) else None
        self._write_lock: _ProcessWriteLock | None = None  # held from a first write to the end of its transaction
        self._busy_timeout_cut = False  # SQLite's own wait shortened by a wait for the lock file

    def cursor(self, factory=None):
        return super().cursor(factory or _SerializedWritesCursor)

    def before_statement(self, sql: str) -> None:
        if (
            self._database_path is not None
            and self._write_lock is None
            # In autocommit mode no transaction would release it.
            and self.isolation_level is not None
            and sql.lstrip()[:7].upper().startswith(WRITE_VERBS)
        ):
            lock = _lock_for(self._database_path)
            if lock is not None:
                deadline = time.monotonic() + self._busy_timeout
                waited = lock.acquire(deadline)
                self._write_lock = lock
                if waited:
                    self._busy_timeout_cut = True
                    self._set_busy_timeout(max(deadline - time.monotonic(), 0))

    def _set_busy_timeout(self, seconds: float) -> None:
        self.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def _release_write_lock(self) -> None:
        if self._write_lock is not None:
            lock, self._write_lock = self._write_lock, None
            lock.release()

    def _end_transaction(self) -> None:
        self._release_write_lock()
        if self._busy_timeout_cut:
            self._busy_timeout_cut = False
            self._set_busy_timeout(self._busy_timeout)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_transaction()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_transaction()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_write_lock()

    def __del__(self) -> None:
        # A connection dropped mid-transaction without close() must not keep the
        # lock. (No attribute at all when the connection failed to open.)
        if getattr(self, "_write_lock", None) is not None:
            self._release_write_lock()


class _SerializedWritesCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        self.connection.before_statement(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        self.connection.before_statement(sql)
        return super().executemany(sql, seq_of_parameters)
