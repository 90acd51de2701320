"""OpenIM's token state in Redis, kept as its gateway reads it (docs/openim-redis.md).

OpenIM v2.3's ParseToken and v3.8's parseToken verify a token's JWT, then read
the hash UID_PID_TOKEN_STATUS:<userID>:<platform name>: the field named by the
token must hold 0 (normal); 2 is kicked; a token without a field is refused.
This module reads and writes those hashes, exactly as OpenIM names them, and
PUBLISHes the changed keys on OPENIM_REDIS_CACHE_TOPIC after each write (what
OpenIM's rpc-auth local cache listens to). When to write what is the token
door's (app/rules/token_mirror.py).

The client, per OPENIM_REDIS_MODE (OpenIM's redis.yml), and its bounded waits
are app/storage/redis_connections.py's; the scripts that write the hashes,
app/storage/redis_scripts.py's. Every failure is counted and raised as
TokenStateUnavailable.
"""

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from flask import Flask

from app import metrics
from app.errors import TokenStateUnavailable
from app.openim import V3_PLATFORM_NAMES
from app.storage import redis_scripts
from app.storage.redis_connections import KeptConnections, connect, redis_errors, redis_exceptions
from app.storage.redis_scripts import KEY_PREFIX, watermark_key

logger = logging.getLogger(__name__)

T = TypeVar("T")

NORMAL = b"0"  # OpenIM's constant.NormalToken
KICKED = b"2"  # constant.KickedToken
_EXTENSION = "openim_redis"
# Of each platform's hash that a kick or delete reached: the latest issue second among the
# records it reached there, and how long its watermark must last (redis_scripts.py).
Reach = dict[int, tuple[int, int]]


def token_key(user_id: str, platform: int) -> str:
    """The hash of the user's tokens on `platform` (cachekey.GetTokenKey)."""
    return f"{KEY_PREFIX}{user_id}:{V3_PLATFORM_NAMES[platform]}"


def user_keys(user_id: str) -> list[str]:
    return [token_key(user_id, platform) for platform in V3_PLATFORM_NAMES]


def _fields(reply: list) -> dict[bytes, bytes]:
    """HGETALL's reply as a script returns it, field and value in turn, as a dict."""
    return dict(zip(reply[::2], reply[1::2], strict=True))


def field_digest(field: bytes) -> bytes:
    """What a token record holds of the token that names this field (jwt_tokens.token_digest)."""
    return hashlib.sha256(field).digest()


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
        self._scripts: dict[str, object] = {}  # redis-py's Script objects, by their text
        self._kept = KeptConnections()  # for the issue's script and the check's read

    def _run(self, operation: str, work: Callable[[object], T]) -> T:
        errors = redis_errors()
        try:
            if self._client is None:
                with self._lock:
                    if self._client is None:
                        client, self._closables = connect(self._config)
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

    def _script(self, client, text: str):
        script = self._scripts.get(text)
        if script is None:
            script = self._scripts[text] = client.register_script(text)
        return script

    def _watermark(self, key: str) -> str | None:
        return watermark_key(key, self._cluster)

    def publish_token(
        self, user_id: str, platform: int, token: str, lifetime_seconds: int, issued_at: int
    ) -> tuple[bool, dict[bytes, bytes]]:
        """HSET the token 0 and EXPIRE its hash (v3's SetTokenFlagEx), unless it must be settled.

        Returns whether it was written, and the hash's fields before. Not
        written when the field holds anything else, or when a kick or delete
        reached tokens of this second or later (the watermark, redis_scripts.py).
        One script, so one command and one reply for the request that every
        token issue makes: a pipeline cost redis-py a third more of the client's time.
        """
        key = token_key(user_id, platform)
        watermark = self._watermark(key)
        keys = [key] if watermark is None else [key, watermark]
        args = [token, lifetime_seconds, issued_at, self._topic or "", json.dumps([key])]

        def work(client) -> tuple[bool, dict[bytes, bytes]]:
            script = self._script(client, redis_scripts.ISSUE)
            if self._cluster:
                written, before = script(keys=keys, args=args, client=client)
            else:
                written, before = self._evalsha_on_kept_connection(client, script, [len(keys), *keys, *args])
            return written == 1, _fields(before)

        return self._run("issue", work)

    def _evalsha_on_kept_connection(self, client, script, numkeys_keys_and_args: list) -> list:
        """`script`, loaded again if Redis lost it (restarted, SCRIPT FLUSH)."""
        try:
            return self._kept.call(client.connection_pool, "EVALSHA", script.sha, *numkeys_keys_and_args)
        except redis_exceptions().NoScriptError:
            self._kept.call(client.connection_pool, "SCRIPT", "LOAD", script.script)
            return self._kept.call(client.connection_pool, "EVALSHA", script.sha, *numkeys_keys_and_args)

    def state_of(self, user_id: str, platform: int, token: str) -> bytes | None:
        """The token's field: NORMAL, KICKED, anything else OpenIM put there, or None."""
        key = token_key(user_id, platform)

        def work(client) -> bytes | None:
            if self._cluster:
                return client.hget(key, token)
            return self._kept.call(client.connection_pool, "HGET", key, token)

        return self._run("check", work)

    def kick(
        self, user_id: str, platforms: Iterable[int], digests: set[bytes] | None = None, reached: Reach | None = None
    ) -> None:
        """Set to 2 the fields of the platforms' hashes whose tokens' SHA-256 is among `digests` (None: every field).

        With `reached` (a transaction that kicked records), each hash's
        watermark is raised first, in the step that reads the hash.
        """
        keys = {platform: token_key(user_id, platform) for platform in platforms}

        def work(client) -> None:
            hashes = self._read_hashes(client, keys, reached or {})
            for key, fields in hashes.items():
                chosen = [
                    field
                    for field, value in fields.items()
                    if value != KICKED and (digests is None or field_digest(field) in digests)
                ]
                if chosen:
                    script = self._script(client, redis_scripts.KICK_FIELDS)
                    script(keys=[key], args=[self._topic or "", json.dumps([key]), *chosen], client=client)

        self._run("kick", work)

    def _read_hashes(self, client, keys: dict[int, str], reached: Reach) -> dict[str, dict[bytes, bytes]]:
        """HGETALL of each key; those of `reached` raise their watermarks in the same step."""
        read: dict[str, dict[bytes, bytes]] = {}
        plain = []
        for platform, key in keys.items():
            watermark = self._watermark(key)
            if platform in reached and watermark is not None:
                script = self._script(client, redis_scripts.RAISE_AND_READ)
                fields = script(keys=[key, watermark], args=list(reached[platform]), client=client)
                read[key] = _fields(fields)
            else:
                plain.append(key)
        reading = client.pipeline(transaction=False)
        for key in plain:
            reading.hgetall(key)
        read.update(zip(plain, reading.execute() if plain else [], strict=True))
        return read

    def settle(self, user_id: str, platform: int, token: str, value: int | None, lifetime_seconds: int) -> None:
        """Write the token's settled field (None: remove it), the hash kept for the token's lifetime."""
        key = token_key(user_id, platform)

        def writes(pipeline) -> None:
            if value is None:
                pipeline.hdel(key, token)
            else:
                pipeline.hset(key, token, value)
                pipeline.expire(key, lifetime_seconds)

        self._run("issue", lambda client: self._write(client, writes, [key]))

    def remove_fields(self, user_id: str, platform: int, fields: list, operation: str = "issue") -> None:
        key = token_key(user_id, platform)
        self._run(operation, lambda client: self._write(client, lambda p: p.hdel(key, *fields), [key]))

    def forget_user(self, user_id: str, reached: Reach | None = None) -> None:
        """DEL every hash of the user, one key at a time: on a cluster they lie in different slots.

        With `reached` (a transaction that deleted records), each hash's
        watermark is raised first, in the step that deletes it.
        """
        reached = reached or {}
        watermarked = {}
        for platform, (second, seconds) in reached.items():
            key = token_key(user_id, platform)
            watermark = self._watermark(key)
            if watermark is not None:
                watermarked[key] = (watermark, second, seconds)
        plain = [key for key in user_keys(user_id) if key not in watermarked]

        def work(client) -> None:
            for key, (watermark, second, seconds) in watermarked.items():
                script = self._script(client, redis_scripts.RAISE_AND_DELETE)
                script(
                    keys=[key, watermark], args=[second, seconds, self._topic or "", json.dumps([key])], client=client
                )

            def writes(pipeline) -> None:
                for key in plain:
                    pipeline.delete(key)

            self._write(client, writes, plain)

        self._run("delete", work)

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
            self._client, self._closables, self._scripts = None, [], {}


def of(app: Flask) -> TokenState | None:
    """The app's TokenState; None while OPENIM_REDIS_URL is unset."""
    return app.extensions.get(_EXTENSION)


def init_app(app: Flask) -> None:
    if app.config["OPENIM_REDIS_URL"]:
        app.extensions[_EXTENSION] = TokenState(app.config)
