"""Per thread, one Redis connection kept out of redis-py's pool: for the calls every request makes.

Every user_token writes OpenIM's Redis once and every token check reads it
once (app/storage/openim_redis.py). Taking a connection from the pool and
giving it back (a lock, a poll of the socket) and redis-py's command wrapper
cost the worker as much CPU as the call itself (BENCHMARKS.md), so those calls
go on a connection that the thread keeps. It is the pool's own kind, with its
timeouts and its reconnection (to the current master, under Sentinel), and
each call has the client's retry: a failure disconnects the connection and
the retry connects it again. Not for a cluster, whose client picks the node
by the key.
"""

import os
import threading


class ThreadConnections:
    def __init__(self):
        self._lock = threading.Lock()
        self._each_thread = threading.local()
        self._taken: list = []

    def call(self, pool, *command):
        """Send `command` on this thread's connection out of `pool`; its reply, unparsed, or redis-py's error."""
        mine = self._each_thread
        if getattr(mine, "pid", None) != os.getpid():  # a forked child must not use its parent's socket
            mine.connection, mine.pid = pool.get_connection(), os.getpid()
            with self._lock:
                self._taken.append(mine.connection)
        connection = mine.connection

        def attempt():
            connection.send_command(*command)
            return connection.read_response()

        return connection.retry.call_with_retry(attempt, lambda error: connection.disconnect())

    def connection_of_this_thread(self):
        return getattr(self._each_thread, "connection", None)

    def close(self) -> None:
        with self._lock:
            for connection in self._taken:
                connection.disconnect()
            self._each_thread, self._taken = threading.local(), []
