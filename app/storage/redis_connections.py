"""Connecting to OpenIM's Redis: the client of the configured mode, and connections kept out of its pool.

The client (connect) is built at the first use, and redis is imported then:
never while OPENIM_REDIS_URL is unset. Every wait is bounded by a second's
connect and command timeouts and one retry on a fresh connection, which is
also how a Redis that came back is found again.

KeptConnections: every user_token writes OpenIM's Redis once and every token check reads it
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

import functools
import os
import threading
from urllib.parse import unquote, urlsplit

TIMEOUT_SECONDS = 1.0
RETRIES = 1


@functools.cache
def redis_exceptions():
    """redis' exceptions module: imported at the first use, so only when configured."""
    from redis import exceptions

    return exceptions


def redis_errors() -> tuple[type[Exception], ...]:
    """What redis raises when Redis fails."""
    return (redis_exceptions().RedisError, redis_exceptions().RedisClusterException)


def connect(config) -> tuple[object, list]:
    """The client of the configured mode, and what to close with it."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    url, mode = config["OPENIM_REDIS_URL"], config["OPENIM_REDIS_MODE"]
    options = {
        "socket_connect_timeout": TIMEOUT_SECONDS,
        "socket_timeout": TIMEOUT_SECONDS,
        "retry": Retry(ExponentialBackoff(cap=0.1, base=0.02), RETRIES),
    }
    if mode == "standalone":
        client = redis.Redis.from_url(url, **options)
        return client, [client]
    if mode == "cluster":
        client = redis.RedisCluster.from_url(url, **options)  # connects to the seed now
        return client, [client]
    parts = urlsplit(url)
    sentinels = []
    for address in config["OPENIM_REDIS_SENTINEL_ADDRESSES"]:
        host, _, port = address.rpartition(":")
        sentinels.append((host.strip("[]"), int(port)))
    sentinel = redis.Sentinel(sentinels, sentinel_kwargs=dict(options), **options)
    client = sentinel.master_for(
        config["OPENIM_REDIS_SENTINEL_MASTER"],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        db=int(parts.path.strip("/") or 0),
        ssl=parts.scheme == "rediss",
    )
    return client, [client, *sentinel.sentinels]


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
