"""OpenIM's token state in Redis, kept as its gateway reads it (docs/openim-redis.md).

OpenIM v2.3's ParseToken and v3.8's parseToken verify a token's JWT, then read
the hash UID_PID_TOKEN_STATUS:<userID>:<platform name>: the field named by the
token must hold 0 (normal); 2 is kicked; a token without a field is refused.
This module reads and writes those hashes, exactly as OpenIM names them, and
PUBLISHes the changed keys on OPENIM_REDIS_CACHE_TOPIC after each write (what
OpenIM's rpc-auth local cache listens to). When to write what is the token
door's (app/rules/token_mirror.py).

The client, per OPENIM_REDIS_MODE (OpenIM's redis.yml), is built at the first
use, and redis is imported then: never while OPENIM_REDIS_URL is unset. Every
wait is bounded by a second's connect and command timeouts and one retry on
a fresh connection, which is also how a Redis that came back is found again.
Every failure is counted and raised as TokenStateUnavailable.
"""

import functools
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from flask import Flask

from app import metrics
from app.errors import TokenStateUnavailable
from app.openim import V3_PLATFORM_NAMES
from app.storage.redis_connections import KeptConnections

logger = logging.getLogger(__name__)

T = TypeVar("T")

KEY_PREFIX = "UID_PID_TOKEN_STATUS:"
NORMAL = b"0"  # OpenIM's constant.NormalToken
KICKED = b"2"  # constant.KickedToken
TIMEOUT_SECONDS = 1.0
RETRIES = 1
_EXTENSION = "openim_redis"
# KEYS[1] the hash; ARGV: the token, its lifetime, the cache topic ("" for none), the
# changed keys as JSON. The PUBLISH runs on the hash's own node after the write, so
# no subscriber hears of the key before the write is there (on a cluster too).
_ISSUE_SCRIPT = """
local before = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], '0')
redis.call('EXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return before
"""


def token_key(user_id: str, platform: int) -> str:
    """The hash of the user's tokens on `platform` (cachekey.GetTokenKey)."""
    return f"{KEY_PREFIX}{user_id}:{V3_PLATFORM_NAMES[platform]}"


def user_keys(user_id: str) -> list[str]:
    return [token_key(user_id, platform) for platform in V3_PLATFORM_NAMES]


def field_digest(field: bytes) -> bytes:
    """What a token record holds of the token that names this field (jwt_tokens.token_digest)."""
    return hashlib.sha256(field).digest()


@functools.cache
def _redis_exceptions():
    """redis' exceptions module: imported at the first use, so only when configured."""
    from redis import exceptions

    return exceptions


def _redis_errors() -> tuple[type[Exception], ...]:
    """What redis raises when Redis fails."""
    return (_redis_exceptions().RedisError, _redis_exceptions().RedisClusterException)


def _connect(config) -> tuple[object, list]:
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


class TokenState:
    """The hashes of one OpenIM deployment's Redis; one per app, shared by its threads."""

    def __init__(self, config):
        self._config = config
        self._topic = config["OPENIM_REDIS_CACHE_TOPIC"]
        self._cluster = config["OPENIM_REDIS_MODE"] == "cluster"
        self._lock = threading.Lock()
        self._client = None
        self._closables: list = []
        self._probe: Future | None = None
        self._issue_script = None
        self._kept = KeptConnections()  # for the issue's script and the check's read

    def _run(self, operation: str, work: Callable[[object], T]) -> T:
        errors = _redis_errors()
        try:
            if self._client is None:
                with self._lock:
                    if self._client is None:
                        client, self._closables = _connect(self._config)
                        self._client = client
            return work(self._client)
        except errors as error:
            metrics.count_redis_failure(operation)
            logger.warning("OpenIM's Redis failed (%s): %s", operation, type(error).__name__)
            raise TokenStateUnavailable() from None

    def _write(self, client, writes: Callable[[object], None], keys: list[str]) -> list:
        """Run `writes` on a pipeline, then PUBLISH `keys`; the pipeline's results."""
        pipeline = client.pipeline(transaction=False)
        writes(pipeline)
        publish = self._topic and keys
        # A cluster pipeline sends to several nodes at once: its PUBLISH could overtake the write.
        if publish and not self._cluster:
            pipeline.publish(self._topic, json.dumps(keys))
        results = pipeline.execute()
        if publish and self._cluster:
            client.publish(self._topic, json.dumps(keys))
        return results

    def publish_token(self, user_id: str, platform: int, token: str, lifetime_seconds: int) -> dict[bytes, bytes]:
        """HSET the token 0 and EXPIRE its hash (v3's SetTokenFlagEx); the hash's fields before.

        One script (_ISSUE_SCRIPT), so one command and one reply for the
        request that every token issue makes: a pipeline of four cost
        redis-py a third more of the client's time.
        """
        key = token_key(user_id, platform)
        topic, keys = self._topic or "", json.dumps([key])

        def work(client) -> dict[bytes, bytes]:
            if self._issue_script is None:
                self._issue_script = client.register_script(_ISSUE_SCRIPT)
            if self._cluster:
                before = self._issue_script(keys=[key], args=[token, lifetime_seconds, topic, keys], client=client)
            else:
                before = self._evalsha_on_kept_connection(client, (key, token, lifetime_seconds, topic, keys))
            return dict(zip(before[::2], before[1::2], strict=True))

        return self._run("issue", work)

    def _evalsha_on_kept_connection(self, client, keys_and_args: tuple) -> list:
        """The issue's script (one key), loaded again if Redis lost it (restarted, SCRIPT FLUSH)."""
        script = self._issue_script
        try:
            return self._kept.call(client.connection_pool, "EVALSHA", script.sha, 1, *keys_and_args)
        except _redis_exceptions().NoScriptError:
            self._kept.call(client.connection_pool, "SCRIPT", "LOAD", script.script)
            return self._kept.call(client.connection_pool, "EVALSHA", script.sha, 1, *keys_and_args)

    def state_of(self, user_id: str, platform: int, token: str) -> bytes | None:
        """The token's field: NORMAL, KICKED, anything else OpenIM put there, or None."""
        key = token_key(user_id, platform)

        def work(client) -> bytes | None:
            if self._cluster:
                return client.hget(key, token)
            return self._kept.call(client.connection_pool, "HGET", key, token)

        return self._run("check", work)

    def kick(self, user_id: str, platforms: Iterable[int], digests: set[bytes] | None = None) -> None:
        """Set to 2 the fields of the platforms' hashes whose tokens' SHA-256 is among `digests` (None: every field)."""
        keys = [token_key(user_id, platform) for platform in platforms]

        def work(client) -> None:
            reading = client.pipeline(transaction=False)
            for key in keys:
                reading.hgetall(key)
            kicks = {}
            for key, fields in zip(keys, reading.execute(), strict=True):
                chosen = {
                    field: 2
                    for field, value in fields.items()
                    if value != KICKED and (digests is None or field_digest(field) in digests)
                }
                if chosen:
                    kicks[key] = chosen

            def writes(pipeline) -> None:
                for key, mapping in kicks.items():
                    pipeline.hset(key, mapping=mapping)

            if kicks:
                self._write(client, writes, list(kicks))

        self._run("kick", work)

    def set_fields(self, user_id: str, platform: int, fields: dict[str, int], operation: str = "issue") -> None:
        key = token_key(user_id, platform)
        self._run(operation, lambda client: self._write(client, lambda p: p.hset(key, mapping=fields), [key]))

    def remove_fields(self, user_id: str, platform: int, fields: list, operation: str = "issue") -> None:
        key = token_key(user_id, platform)
        self._run(operation, lambda client: self._write(client, lambda p: p.hdel(key, *fields), [key]))

    def forget_user(self, user_id: str) -> None:
        """DEL every hash of the user, one key at a time: on a cluster they lie in different slots."""
        keys = user_keys(user_id)

        def writes(pipeline) -> None:
            for key in keys:
                pipeline.delete(key)

        self._run("delete", lambda client: self._write(client, writes, keys))

    def reachable(self, timeout: float) -> bool:
        """Whether Redis answers a PING within `timeout` seconds.

        On a daemon thread, one at a time: a silent Redis costs /healthz no
        more than `timeout`, and polling it piles up neither threads nor connections.
        """
        with self._lock:
            if self._probe is None or self._probe.done():
                self._probe = Future()
                threading.Thread(target=self._ping, args=(self._probe,), name="healthz-redis", daemon=True).start()
            probe = self._probe
        try:
            return probe.result(timeout=timeout)
        except FutureTimeout:
            logger.warning("health check: OpenIM's Redis did not answer within %.1f s", timeout)
            return False

    def _ping(self, outcome: Future) -> None:
        try:
            self._run("health", lambda client: client.ping())
        except TokenStateUnavailable:
            outcome.set_result(False)
        else:
            outcome.set_result(True)

    def close(self) -> None:
        with self._lock:
            self._kept.close()
            for closable in self._closables:
                closable.close()
            self._client, self._closables, self._issue_script = None, [], None


def of(app: Flask) -> TokenState | None:
    """The app's TokenState; None while OPENIM_REDIS_URL is unset."""
    return app.extensions.get(_EXTENSION)


def init_app(app: Flask) -> None:
    if app.config["OPENIM_REDIS_URL"]:
        app.extensions[_EXTENSION] = TokenState(app.config)
