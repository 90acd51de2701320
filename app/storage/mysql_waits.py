"""MySQL/MariaDB connection settings: every wait on the server bounded.

The timeouts below end each wait as an error the service answers with 503/802,
or retries (app/storage/database.py's retry_transient). A lock held by another
transaction (a row lock; a table lock or FLUSH TABLES WITH READ LOCK, which
are metadata locks) ends the wait as error 1205 after
MYSQL_LOCK_WAIT_TIMEOUT_SECONDS; retries follow while another wait fits in
database.LOCK_WAIT_BUDGET_SECONDS.

The connections' health checks give up sooner than their statements.

A server (or a network) that stops answering without closing anything costs
each wait its whole read timeout. Before a request's first statement the
pool pings its connection, and when the ping fails it opens a new one: with
one timeout for everything, a silent server cost a request two full statement
timeouts (2 × 10 s). A healthy server answers a ping or a handshake within
milliseconds, while a statement may rightly wait for seconds (a row lock, up
to innodb_lock_wait_timeout; a Galera cluster evicting a dead node; a batch of
the import). So the ping and the handshake of a new connection (with its
SET NAMES and init_command) wait at most HEALTH_CHECK_TIMEOUT_SECONDS, or the
read timeout when that is shorter; statements keep the read timeout.
"""

from contextlib import contextmanager

from pymysql.connections import Connection as PyMySQLConnection
from sqlalchemy import event
from sqlalchemy.engine import Engine

HEALTH_CHECK_TIMEOUT_SECONDS = 2

# A server that does not accept the TCP connection: answer 503 after this long.
MYSQL_CONNECT_TIMEOUT_SECONDS = 2
# A server (or a network) that stops answering in the middle of a statement.
MYSQL_IO_TIMEOUT_SECONDS = 10
# One wait for a row lock (innodb_lock_wait_timeout) or a metadata lock
# (lock_wait_timeout): whole seconds, so 1; retried within the budget.
MYSQL_LOCK_WAIT_TIMEOUT_SECONDS = 1
# Below the 5 minutes after which many proxies and balancers drop idle connections.
MYSQL_POOL_RECYCLE_SECONDS = 280
MYSQL_POOL_TIMEOUT_SECONDS = 5


def mysql_engine_options() -> dict:
    lock_wait = MYSQL_LOCK_WAIT_TIMEOUT_SECONDS
    return {
        "pool_pre_ping": True,
        # The ROLLBACK only where a transaction may be open (app/storage/mysql_connections.py).
        "pool_reset_on_return": None,
        "pool_recycle": MYSQL_POOL_RECYCLE_SECONDS,
        "pool_timeout": MYSQL_POOL_TIMEOUT_SECONDS,
        "connect_args": {
            # 4-byte UTF-8 (emoji, CJK extension B) even when the URL names no charset.
            "charset": "utf8mb4",
            "connect_timeout": MYSQL_CONNECT_TIMEOUT_SECONDS,
            "read_timeout": MYSQL_IO_TIMEOUT_SECONDS,
            "write_timeout": MYSQL_IO_TIMEOUT_SECONDS,
            "init_command": f"SET SESSION innodb_lock_wait_timeout = {lock_wait}, lock_wait_timeout = {lock_wait}",
        },
    }


class QuickHealthCheckConnection(PyMySQLConnection):
    """PyMySQL's connection with a shorter read timeout while it connects and pings.

    PyMySQL reads its read timeout (`_read_timeout`, pinned in requirements)
    before each packet it reads, so changing it for the length of a call
    bounds every read of that call.
    """

    def connect(self, sock=None):
        with self._reads_within(HEALTH_CHECK_TIMEOUT_SECONDS):
            super().connect(sock)

    def ping(self, reconnect=False):
        with self._reads_within(HEALTH_CHECK_TIMEOUT_SECONDS):
            super().ping(reconnect)

    @contextmanager
    def _reads_within(self, seconds: float):
        statement_timeout = self._read_timeout
        self._read_timeout = seconds if statement_timeout is None else min(seconds, statement_timeout)
        try:
            yield
        finally:
            self._read_timeout = statement_timeout


@event.listens_for(Engine, "do_connect")
def _connect_with_quick_health_checks(dialect, connection_record, cargs, cparams):
    if dialect.driver == "pymysql":
        return QuickHealthCheckConnection(*cargs, **cparams)
    return None  # the dialect's own connect
