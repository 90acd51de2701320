"""MySQL/MariaDB connections whose health checks give up sooner than their statements.

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
