"""Redis connections kept for the calls every request makes, out of redis-py's pool.

Every user_token writes OpenIM's Redis once and every token check reads it
once (app/storage/openim_redis.py). Taking a connection from the pool and
giving it back (a lock, a poll of the socket) and redis-py's command wrapper
cost the worker as much CPU as the call itself (BENCHMARKS.md), so those calls
take a connection off a plain list and put it back: as many connections as
calls at once, one per worker under gunicorn's sync workers. The pool makes
them, so they have its timeouts and reconnection (to the current master,
under Sentinel). Each call has the client's retry: a failure disconnects the
connection and the retry connects it again. A call that ends in any error
disconnects it before it goes back to the list (the pool would instead poll
the socket on every lend), so no part of a reply cut off half-way can answer
the next call. Not for a cluster, whose client picks the node by the key.
"""

import os
import threading


class KeptConnections:
    def __init__(self):
        self._lock = threading.Lock()
        self._idle: list = []
        self._all: list = []
        self._pid = os.getpid()

    def call(self, pool, *command):
        """Send `command` on a kept connection made by `pool`; its reply, unparsed, or redis-py's error."""
        if self._pid != os.getpid():
            self._forked()
        try:
            connection = self._idle.pop()  # atomic: no lock on the way
        except IndexError:
            connection = pool.make_connection()
            with self._lock:
                self._all.append(connection)

        def attempt():
            connection.connect()  # as the pool does before it lends one: under Sentinel, to the current master
            connection.send_command(*command)
            return connection.read_response()

        try:
            return connection.retry.call_with_retry(attempt, lambda error: connection.disconnect())
        except BaseException:
            connection.disconnect()  # whatever cut the call short, no part of its reply may answer the next
            raise
        finally:
            self._idle.append(connection)

    def _forked(self) -> None:
        """A forked child must not use its parent's sockets, nor close them: it forgets them."""
        with self._lock:
            self._idle, self._all, self._pid = [], [], os.getpid()

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.disconnect()
            self._idle, self._all = [], []
