"""GET /healthz: is the service up and can it reach its database, answered within a second.

The probe (SELECT 1, and a write that changes nothing) runs on a thread of its own so that the answer never
waits longer than PROBE_TIMEOUT_SECONDS, whatever the database does: a server
that accepts connections and then stays silent would otherwise hold the
request for the driver's I/O timeout. At most one probe runs per process;
requests that come while it runs wait for the same one, so polling a hung
database does not pile up threads or connections.
"""

import errno
import logging
import os
import threading
import weakref
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, current_app
from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app.errors import DatabaseUnavailable
from app.extensions import db
from app.storage import openim_redis
from app.web.dialects import dialect_of_request
from app.web.route_docs import documented

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

PROBE_TIMEOUT_SECONDS = 0.8

# Per engine (one per app), the latest probe.
_probes: "weakref.WeakKeyDictionary[Engine, Future]" = weakref.WeakKeyDictionary()
_probes_lock = threading.Lock()


# Below this much free space on an SQLite database's disk, writes are about to fail.
MIN_FREE_BYTES = 256 * 1024


def probe(engine: Engine) -> None:
    """Raise unless the database answers and takes writes."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()
        # A write that matches nothing still fails on a read-only database
        # (SQLite's read-only file or disk, a MySQL read-only server).
        connection.execute(text("DELETE FROM token_records WHERE 1 = 0"))
        connection.rollback()
    if engine.dialect.name == "sqlite":
        require_free_space(engine.url.database or "")


def require_free_space(database: str) -> None:
    """SQLite fails writes on a full disk; SELECT 1 would not notice."""
    path = database.removeprefix("file:").partition("?")[0]
    if not path or path == ":memory:":
        return
    stats = os.statvfs(os.path.dirname(os.path.abspath(path)))
    if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
        raise OperationalError("statvfs", None, OSError(errno.ENOSPC, "disk (nearly) full"))


def run_probe(engine: Engine, outcome: Future) -> None:
    try:
        probe(engine)
    except Exception as error:  # handed over to the waiting requests, which judge it
        outcome.set_exception(error)
    else:
        outcome.set_result(None)


def start_probe(engine: Engine) -> Future:
    """The probe in flight on `engine`, or a new one when none is.

    A daemon thread, so that a probe stuck on a silent server never delays
    the exit of a worker.
    """
    with _probes_lock:
        outcome = _probes.get(engine)
        if outcome is None or outcome.done():
            outcome = Future()
            _probes[engine] = outcome
            threading.Thread(target=run_probe, args=(engine, outcome), name="healthz", daemon=True).start()
        return outcome


def database_reachable() -> bool:
    try:
        start_probe(db.engine).result(timeout=PROBE_TIMEOUT_SECONDS)
    except FutureTimeout:
        logger.warning("health check: the database did not answer within %.1f s", PROBE_TIMEOUT_SECONDS)
        return False
    except SQLAlchemyError as error:
        # The class is enough to diagnose; the message may hold the URL.
        logger.warning("health check: database failed: %s", type(error).__name__)
        return False
    return True


class HealthSchema(Schema):
    database = fields.String(required=True, metadata={"enum": ["ok"]})
    redis = fields.String(metadata={"enum": ["ok"], "description": "OpenIM's Redis, when OPENIM_REDIS_URL is set."})


@bp.get("/healthz")
@documented("Liveness and database check", data=HealthSchema, errors=(DatabaseUnavailable,))
def healthz():
    """Runs SELECT 1 on the database (and PING on OpenIM's Redis when configured) and answers within about a
    second: 200 when they answered, 503/802 when not."""
    answers = dialect_of_request().answers
    data = {"database": "ok" if database_reachable() else "unavailable"}
    state = openim_redis.of(current_app)
    if state is not None:
        data["redis"] = "ok" if state.reachable(PROBE_TIMEOUT_SECONDS) else "unavailable"
    if "unavailable" in data.values():
        return answers.answer_failure(DatabaseUnavailable(), data=data)
    return answers.success(data)
