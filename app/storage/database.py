"""Engine settings per backend, and the retry of transient database errors.

SQLite (the embedded default) runs in WAL mode with a busy timeout so that
several gunicorn workers can write one file. MySQL/MariaDB gets a pool that
checks connections before use and timeouts so that a dead server cannot hang
a worker (app/storage/mysql_waits.py): every wait on the server ends well
before gunicorn's 30-second worker timeout, as an error the service answers
with 503/802 or retries. A wait for a lock, retries included, ends within
LOCK_WAIT_BUDGET_SECONDS on either backend.
"""

import contextlib
import functools
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from flask import Flask, g
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from app import metrics
from app.extensions import db
from app.storage import mysql_connections
from app.storage.mysql_connections import is_mysql_driver_connection
from app.storage.mysql_waits import mysql_engine_options
from app.storage.sqlite_writes import SerializedWritesConnection

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A request waits for a lock at most this long in total, retries included,
# then answers 503/802: an answer a balancer can act on, well before its own
# timeouts and gunicorn's 30-s worker timeout. Both backends keep to it.
LOCK_WAIT_BUDGET_SECONDS = 5
# SQLite: the wait for the write lock, the lock file's and SQLite's own together
# (app/storage/sqlite_writes.py). SQLite's errors are not retried.
SQLITE_BUSY_TIMEOUT_SECONDS = LOCK_WAIT_BUDGET_SECONDS

# MySQL error codes worth a retry: lock wait timeout, deadlock / certification conflict.
RETRYABLE_MYSQL_ERRORS = {1205, 1213}
MAX_ATTEMPTS = 5


def is_mysql_uri(uri: str) -> bool:
    return uri.startswith(("mysql", "mariadb"))


def engine_options(uri: str) -> dict:
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "factory": SerializedWritesConnection}}
    if is_mysql_uri(uri):
        return mysql_engine_options()
    return {}


def merge_engine_options(defaults: dict, overrides: dict) -> dict:
    """`overrides` wins key by key, and within `connect_args` too.

    So a deployment (or a test) can change one timeout without restating the others.
    """
    connect_args = {**defaults.get("connect_args", {}), **overrides.get("connect_args", {})}
    merged = {**defaults, **overrides}
    if connect_args:
        merged["connect_args"] = connect_args
    return merged


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


# On a Galera node (MariaDB Galera Cluster, Percona XtraDB Cluster) a statement
# can run before the node has applied a commit made through another node: a user
# registered through one instance would be "not registered" through the next.
# wsrep_sync_wait makes a statement first wait until the node has applied every
# commit the cluster had ordered when it began. 1 = reads (SELECT, SHOW, BEGIN);
# 2 = UPDATE and DELETE, which otherwise miss rows written through another node
# a moment ago (update_user_info answering 1101, a kick missing a fresh token).
# INSERTs (4) need no wait: a stale node's INSERT of an existing key fails with
# 1062, or certification fails at COMMIT with 1213, which is retried.
GALERA_SYNC_WAIT = 3


@event.listens_for(Engine, "connect")
def _causal_reads_on_galera(dbapi_connection, connection_record) -> None:
    """Set wsrep_sync_wait on each new connection to a Galera node, and only there."""
    if not is_mysql_driver_connection(dbapi_connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SHOW VARIABLES LIKE 'wsrep_on'")
        row = cursor.fetchone()
        if row is not None and str(row[1]).upper() == "ON":
            cursor.execute(f"SET SESSION wsrep_sync_wait = {GALERA_SYNC_WAIT}")
    finally:
        cursor.close()


def mysql_error_code(error: DBAPIError) -> int | None:
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


# MySQL/MariaDB: "Table '…' doesn't exist"; SQLite says "no such table".
MYSQL_NO_SUCH_TABLE = 1146


def is_missing_schema(error: Exception) -> bool:
    """Whether a database error says the tables are not there: `flask db upgrade` was never run."""
    if not isinstance(error, DBAPIError):
        return False
    return mysql_error_code(error) == MYSQL_NO_SUCH_TABLE or str(error.orig).startswith("no such table")


def is_retryable(error: DBAPIError) -> bool:
    return mysql_error_code(error) in RETRYABLE_MYSQL_ERRORS


def retry_transient(operation: Callable[[], T]) -> T:
    """Run a unit of work, retrying deadlocks and lock-wait timeouts with jitter.

    `operation` must be a whole transaction (it commits), so that running it
    again after a rollback is safe. Another attempt may wait for a lock as long
    as the last one did: it is made only while that fits within
    LOCK_WAIT_BUDGET_SECONDS of the first, so that the waits of all attempts
    together end within the budget.
    """
    deadline = time.monotonic() + LOCK_WAIT_BUDGET_SECONDS
    for attempt in range(1, MAX_ATTEMPTS + 1):
        started = time.monotonic()
        try:
            return operation()
        except DBAPIError as error:
            db.session.rollback()
            pause = random.uniform(0, 0.02 * 2**attempt)
            now = time.monotonic()
            if attempt == MAX_ATTEMPTS or not is_retryable(error) or now + pause + (now - started) > deadline:
                raise
            metrics.count_database_retry(mysql_error_code(error))
            logger.info(
                "retrying after MySQL error %s (attempt %d, %s)",
                mysql_error_code(error),
                attempt,
                getattr(operation, "__qualname__", "?"),
            )
            time.sleep(pause)
    raise AssertionError("unreachable")


_REQUEST_CONNECTION = "_openim_connection"
_IN_TRANSACTION = "_openim_in_transaction"


def request_connection() -> Connection:
    """The app context's pooled Core connection: checked out once per request, closed when the context ends.

    A request that reads a token's record and then issues a token (OpenIM
    v3's calls with an admin token) takes one connection, not two: on
    MySQL/MariaDB one pool ping, and no rollback between the two.
    """
    app_globals = g._get_current_object()  # resolved once: each read through the proxy is a lookup
    connection = app_globals.get(_REQUEST_CONNECTION)
    if connection is None:
        connection = db.engine.connect()
        setattr(app_globals, _REQUEST_CONNECTION, connection)
    return connection


@contextlib.contextmanager
def fresh_read() -> Iterator[Connection]:
    """A connection for a read that must see every commit made before it, wherever the caller is.

    Outside a unit of work, the request's own, with any transaction left open
    by an earlier read of this context ended first, so that MySQL's repeatable
    read gives no older snapshot; the writes that follow in the request
    (run_in_transaction) go on in the read's transaction, with no second
    checkout (on MySQL/MariaDB a ping, and a rollback when it goes back to the
    pool). Inside a unit of work, a connection of its own: a read never ends
    the unit's transaction.
    """
    if g.get(_IN_TRANSACTION):
        with db.engine.connect() as connection:
            yield connection
        return
    connection = request_connection()
    if connection.in_transaction():
        connection.rollback()
    yield connection


def _close_request_connection(_error: BaseException | None) -> None:
    connection = g._get_current_object().pop(_REQUEST_CONNECTION, None)
    if connection is None:
        return
    try:
        connection.close()
    except DBAPIError as error:
        # The rollback that ends a transaction left open (by a read that failed, say) failed
        # too: a Galera node not yet ready (1047), a connection dropped. The answer is made by
        # now and must still go out; SQLAlchemy's close has already handed the connection to
        # the pool's own reset, which drops it if that fails as well.
        logger.warning("closing the request's connection failed: %s %s", type(error).__name__, mysql_error_code(error))


def run_in_transaction(work: Callable[[Connection], T]) -> T:
    """Run `work` on the request's Core connection in a transaction, retried as retry_transient.

    Committed when `work` returns, rolled back when it raises. A transaction
    that a read of this request began (fresh_read) is the one
    committed. The hot paths (user_token, user_register) write this way: a
    Session would add its own bookkeeping to every statement and to the
    commit, for no object to track.
    """

    @functools.wraps(work)  # the retry log names the unit of work
    def attempt() -> T:
        app_globals = g._get_current_object()
        if app_globals.get(_IN_TRANSACTION):
            # Begun inside another unit of work: a connection of its own, never the outer transaction.
            with db.engine.begin() as connection:
                return work(connection)
        connection = request_connection()
        setattr(app_globals, _IN_TRANSACTION, True)
        try:
            with connection.get_transaction() or connection.begin():
                return work(connection)
        finally:
            app_globals.pop(_IN_TRANSACTION)

    return retry_transient(attempt)


def init_app(app: Flask) -> None:
    defaults = {
        **engine_options(app.config["SQLALCHEMY_DATABASE_URI"]),
        # Parameters (user data) stay out of exception messages and logs.
        "hide_parameters": True,
    }
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = merge_engine_options(
        defaults, app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
    )
    db.init_app(app)
    if is_mysql_uri(app.config["SQLALCHEMY_DATABASE_URI"]):
        with app.app_context():
            mysql_connections.mark_connections_of(db.engine)
    app.teardown_appcontext(_close_request_connection)
