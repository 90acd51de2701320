"""The token door's Redis side: in which order a token's record and OpenIM's Redis are written.

With OPENIM_REDIS_URL set, OpenIM's gateway lets in a token whose field in
Redis holds 0 (app/storage/openim_redis.py), while this service goes by its
records. The rule kept here: the gateway never lets in a token that this
service refuses, whatever single write fails and whichever process dies
between two writes. Hence the orders:

- issue: the record (pending) commits → the field is set 0 → the answer. A
  death between leaves a token nobody was handed. The script that sets it
  does not when the field holds something else, or when a kick or delete has
  reached records of the token's second or later (the hash's watermark,
  app/storage/redis_scripts.py): then the field is settled under the
  record's lock, inside a transaction (_settle): 0 if the record is live, 2
  if a kick came first, none if a delete did.
- kick: every field of the hashes is set to 2 first; then each transaction
  that kicks records, before it commits, raises the watermark of their
  hashes to their latest issue second, then sets the fields they have to 2.
  An issue of a kicked record that had not written its field yet finds the
  watermark, and its settling waits for the kick's commit. The multi-login
  policy's and the bound's kicks are the issue's own transaction's, the same way.
- delete_user: the hashes are deleted first, and again inside each
  transaction that deletes records, with the watermark raised in the same step.
- check: a field that is not 0 is refused, whoever wrote it, and its kick is
  written into the record, here or by the next issue's clean-up before it
  removes the field: the kick outlives the field.

A token with no field (issued before Redis was configured, or whose hash
expired early) stays valid here; the gateway refuses it, which is the safe side.
"""

import contextlib
import functools
import logging

from flask import current_app
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.errors import TokenKicked, TokenStateUnavailable, TokenUnknown, UserNotFound
from app.jwt_tokens import IssuedToken, token_digest, unverified_expiry
from app.openim import V3_PLATFORM_NAMES
from app.rules import clock
from app.storage import openim_redis, record_writes
from app.storage.database import mysql_error_code, run_in_transaction
from app.storage.models import TokenStatus
from app.storage.openim_redis import KICKED, NORMAL, Reach, TokenState, field_digest
from app.storage.token_records import KickedRecords, OnKicks, RecordedToken

logger = logging.getLogger(__name__)


def current() -> TokenState | None:
    """The app's OpenIM Redis, or None while OPENIM_REDIS_URL is unset."""
    return openim_redis.of(current_app)


def record_status(state: TokenState | None) -> TokenStatus:
    """How an issue records its token: pending (its field may not be written yet), when there is Redis to write."""
    return TokenStatus.normal if state is None else TokenStatus.pending


def telling(state: TokenState | None, user_id: str) -> OnKicks | None:
    """What a transaction that kicks records calls before it commits: the watermarks, then their fields to 2."""
    if state is None:
        return None

    def tell(connection: Connection, kicked: KickedRecords) -> None:
        digests = {record.token_hash for records in kicked.values() for record in records}
        state.kick(user_id, kicked, digests, _reach(kicked))

    return tell


def _reach(records: KickedRecords) -> Reach:
    """Per platform, the latest issue second among `records` and how long its tokens live yet; the expired left out."""
    now = clock.now()
    reach = {}
    for platform, of_platform in records.items():
        seconds = max(record.expires_at for record in of_platform) - now
        if seconds > 0:
            reach[platform] = (max(record.issued_at for record in of_platform), seconds)
    return reach


def publish(state: TokenState, recorded: RecordedToken, now: int) -> None:
    """After the record's commit: the field 0 (or settled, see the module's docstring), then the hash's clean-up.

    TokenStateUnavailable when Redis fails before the token is safe to hand out;
    UserNotFound when the user was deleted meanwhile.
    """
    issued = recorded.issued
    lifetime = issued.expires_at - issued.issued_at
    written, before = state.publish_token(issued.user_id, issued.platform, issued.token, lifetime, issued.issued_at)
    if not written:
        _settle(state, issued, recorded.token_hash, lifetime)
    own = issued.token.encode("utf-8")
    # As OpenIM's CreateToken: fields no longer valid, or not 0, go. A field that
    # is not 0 is a kick, whoever wrote it: the record learns of it first.
    # Those that this issue's own kicks set to 2 stay, as in CreateToken.
    kicked_now = {record.token_hash for records in recorded.kicked.values() for record in records}
    stale = [
        field
        for field, value in before.items()
        if field != own and (value != NORMAL or _expired(field, now)) and field_digest(field) not in kicked_now
    ]
    if stale:
        _clean_up(state, issued, stale, [field for field in stale if before[field] != NORMAL])


def _settle(state: TokenState, issued: IssuedToken, token_hash: bytes, lifetime: int) -> None:
    """Write the token's field by its record, read under the record's lock, inside that transaction.

    So that a kick of the record, which waits for the lock, writes its 2
    after this. 0 for a live record (made normal: its field is written), 2 for
    a kicked one; for a deleted one, none, and UserNotFound.
    """

    def settle(connection: Connection) -> TokenStatus | None:
        status = record_writes.confirm(connection, token_hash)
        value = None if status is None else 2 if status is TokenStatus.kicked else 0
        state.settle(issued.user_id, issued.platform, issued.token, value, lifetime)
        return status

    try:
        status = run_in_transaction(settle)
    except DBAPIError:
        # The field may hold the 0 of an attempt that did not commit: the safe side is 2.
        with contextlib.suppress(TokenStateUnavailable):
            state.settle(issued.user_id, issued.platform, issued.token, 2, lifetime)
        raise
    if status is None:
        raise UserNotFound()


def _clean_up(state: TokenState, issued: IssuedToken, stale: list[bytes], kicks: list[bytes]) -> None:
    """Remove the stale fields; the kicks among them reach their records (and watermarks) first.

    Never fails the issue: what is left, the next issue on the hash removes.
    """
    if kicks:
        digests = [field_digest(field) for field in kicks]
        on_kicks = telling(state, issued.user_id)
        try:
            run_in_transaction(lambda connection: record_writes.kick_by_hash(connection, digests, on_kicks))
        except (DBAPIError, TokenStateUnavailable) as error:
            logger.warning("recording kicks seen in Redis failed: %s", type(error).__name__)
            stale = [field for field in stale if field not in kicks]
    if stale:
        try:
            state.remove_fields(issued.user_id, issued.platform, stale, operation="clean-up")
        except TokenStateUnavailable:
            pass  # counted and logged


def _expired(field: bytes, now: int) -> bool:
    expiry = _expiry(field)
    return expiry is None or expiry <= now


# A user who keeps several tokens on a platform brings the same fields back on each issue; parsing
# one costs more than the Redis round trip. About 1.5 MB per process when full.
@functools.lru_cache(maxsize=4096)
def _expiry(field: bytes) -> int | None:
    return unverified_expiry(field)


def check(state: TokenState, token: str, user_id: str, platform: int) -> None:
    """Refuse a token whose field is not 0 (absent is fine: see the module's docstring)."""
    value = state.state_of(user_id, platform, token)
    if value is None or value == NORMAL:
        return
    _record_kick(token)
    if value == KICKED:
        raise TokenKicked()
    raise TokenUnknown()


def _record_kick(token: str) -> None:
    """Write a kick seen in Redis into the record; the refusal stands even if the database fails now."""
    try:
        run_in_transaction(lambda connection: record_writes.kick_by_hash(connection, [token_digest(token)]))
    except DBAPIError as error:
        logger.warning("recording a kick seen in Redis failed: %s %s", type(error).__name__, mysql_error_code(error))


def kick(state: TokenState | None, user_id: str, platform: int | None) -> int:
    """Kick the user's tokens on `platform` or on all: Redis first, then the records in batches."""
    if state is not None:
        state.kick(user_id, list(V3_PLATFORM_NAMES) if platform is None else [platform])
    return record_writes.kick_tokens(user_id, platform, on_kicks=telling(state, user_id))


def forgetting(state: TokenState | None, user_id: str) -> OnKicks | None:
    """What a transaction that deletes the user's records calls before it commits: the hashes go."""
    if state is None:
        return None
    return lambda connection, deleted: state.forget_user(user_id, _reach(deleted))
