"""Engine settings per backend, and the retry of transient database errors.

SQLite (the embedded default) runs in WAL mode with a busy timeout so that
several gunicorn workers can write one file. MySQL/MariaDB gets a pool that
checks connections before use and timeouts so that a dead server cannot hang
a worker.
"""
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.extensions import db

logger = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_SECONDS = 10
MYSQL_ENGINE_OPTIONS = {
    "pool_pre_ping": True,
    "pool_recycle": 280,
    "pool_timeout": 5,
    "connect_args": {
        "connect_timeout": 2,
        "read_timeout": 15,
        "write_timeout": 15,
        # Lock waits end well before the read timeout, as a clean retryable error.
        "init_command": "SET SESSION innodb_lock_wait_timeout = 5",
    },
}
# MySQL error codes worth a retry: lock wait timeout, deadlock / certification conflict.
RETRYABLE_MYSQL_ERRORS = {1205, 1213}
MAX_ATTEMPTS = 5


def engine_options(uri: str) -> dict:
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}}
    if uri.startswith("mysql") or uri.startswith("mariadb"):
        return MYSQL_ENGINE_OPTIONS
    return {}


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def is_retryable(error: DBAPIError) -> bool:
    args = getattr(error.orig, "args", ())
    return bool(args) and args[0] in RETRYABLE_MYSQL_ERRORS


def retry_transient(operation: Callable[[], T]) -> T:
    """Run a unit of work, retrying deadlocks and lock-wait timeouts with jitter."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return operation()
        except DBAPIError as error:
            db.session.rollback()
            if attempt == MAX_ATTEMPTS or not is_retryable(error):
                raise
            logger.info("retrying after MySQL error %s (attempt %d)", error.orig.args[0], attempt)
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
    raise AssertionError("unreachable")


def init_app(app: Flask) -> None:
    options = engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **options,
        # Parameters (user data) stay out of exception messages and logs.
        "hide_parameters": True,
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }
    db.init_app(app)
