"""Token records (SPEC §9): who was issued which token, and which were kicked.

Every issue is recorded by the token's SHA-256 (never the token) in the
database all instances share, so a kick through one instance is seen by all.
Minting and verifying the JWT itself is app/jwt_tokens.py's; this module
adds the app's key, lifetime and clock, and the records.
"""

import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import ColumnElement, Integer, bindparam, cast, delete, func, literal_column, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.errors import TokenKicked, TokenMalformed, TokenNotRecorded, UserNotFound
from app.extensions import db
from app.jwt_tokens import IssuedToken, mint_token, mint_v3_token, token_digest, verify_token, verify_v3_token
from app.openim import ADMIN_PLATFORM, FIRST_ACCOUNT_LEVEL_WITHOUT_TOKEN
from app.storage.database import fresh_read_connection, mysql_error_code, run_in_transaction
from app.storage.driver_reads import DriverRead
from app.storage.models import TokenRecord, TokenStatus, User

logger = logging.getLogger(__name__)

# Expired records are pruned by the issuing requests themselves, no cron job:
# by chance, one issue in PRUNE_EVERY (on average) deletes at most PRUNE_BATCH
# expired rows, after its own commit. A random draw, not the record's key: it
# is the same on every instance and every database setting (an id-based turn
# never came when MySQL's auto_increment_increment was even). Deleting up to
# PRUNE_BATCH rows per PRUNE_EVERY issues outruns the inserts, so a backlog
# drains, while no single request pays for more than one batch.
PRUNE_EVERY = 128
PRUNE_BATCH = 1000
# Instances' clocks differ a little: keep records a while past their expiry so
# that no instance still accepting a token finds its record gone.
PRUNE_GRACE_SECONDS = 3600
# Kicking or deleting all of a user's records: this many per transaction, so
# that other writers (SQLite's single write lock) wait for one batch at most.
RECORD_BATCH = 1000


@dataclass(frozen=True)
class RecordedToken:
    issued: IssuedToken
    token_hash: bytes


# On the table, not the mapped class: plain Core statements, without the ORM's machinery.
_records = TokenRecord.__table__
_users = User.__table__
_record_values = {
    "token_hash": bindparam("token_hash", type_=_records.c.token_hash.type),
    "user_id": bindparam("user_id", type_=_records.c.user_id.type),
    "platform": bindparam("platform", type_=_records.c.platform.type),
    "status": bindparam("status", type_=_records.c.status.type),
    "issued_at": bindparam("issued_at", type_=_records.c.issued_at.type),
    "expires_at": bindparam("expires_at", type_=_records.c.expires_at.type),
}
# The record's row, produced only while the user's row exists; the user's row
# is read with a lock (FOR UPDATE on MySQL/MariaDB; SQLite's write lock is
# held from the INSERT on), so a delete either commits first, and this finds
# no user, or waits for this to commit, and then deletes this record too.
_select_record_of_user = (
    select(*(_users.c.user_id if name == "user_id" else value for name, value in _record_values.items()))
    .where(_users.c.user_id == bindparam("user_id"))
    .with_for_update()
)
_select_expired = (
    select(_records.c.token_hash).where(_records.c.expires_at <= bindparam("cutoff")).limit(bindparam("limit"))
)
_delete_records = delete(_records).where(_records.c.token_hash.in_(bindparam("hashes", expanding=True)))
_live_of_platform = (
    _records.c.user_id == bindparam("user_id"),
    _records.c.platform == bindparam("platform"),
    _records.c.status == TokenStatus.normal,
    _records.c.expires_at > bindparam("now"),
)
# The new token's own record is not counted: byte-identical tokens share one.
_live_others_of_platform = (*_live_of_platform, _records.c.token_hash != bindparam("token_hash"))
# Answered from ix_token_records_user_platform_status_expiry alone, no row read.
_count_live_others = select(func.count()).select_from(_records).where(*_live_others_of_platform)
# The user's live records on a platform beyond the newest `keep` (the new one excepted), oldest last.
_select_beyond_bound = (
    select(_records.c.token_hash)
    .where(*_live_others_of_platform)
    .order_by(_records.c.expires_at.desc())
    .limit(RECORD_BATCH)
    .offset(bindparam("keep"))
)
_kick_records = (
    update(_records)
    .where(_records.c.token_hash.in_(bindparam("hashes", expanding=True)), _records.c.status == TokenStatus.normal)
    .values(status=TokenStatus.kicked)
)


def _upsert(statement_of: Callable, dialect_name: str):
    """`statement_of(insert)`'s INSERT that, for a hash already recorded, sets the record normal again.

    Byte-identical tokens (same user, platform, second) share one record; a
    token issued again after a kick is valid again (SPEC §9).
    """
    if dialect_name == "sqlite":
        statement = statement_of(sqlite.insert(_records))
        return statement.on_conflict_do_update(index_elements=["token_hash"], set_={"status": TokenStatus.normal})
    if dialect_name in ("mysql", "mariadb"):
        return statement_of(mysql.insert(_records)).on_duplicate_key_update(status=TokenStatus.normal)
    raise NotImplementedError(f"token records on {dialect_name}")


@functools.lru_cache(maxsize=8)
def _record_statements(dialect_name: str) -> dict:
    """The recording INSERTs of a dialect, built once, by whom they record for (see record_token)."""

    def of_users(select_user):
        return _upsert(lambda insert: insert.from_select(list(_record_values), select_user), dialect_name)

    return {
        "registered": of_users(_select_record_of_user),
        "ordinary": of_users(
            _select_record_of_user.where(_users.c.app_manger_level < FIRST_ACCOUNT_LEVEL_WITHOUT_TOKEN)
        ),
        "anyone": _upsert(lambda insert: insert.values(_record_values), dialect_name),
    }


def app_now() -> int:
    """The app's clock (OPENIM_CLOCK, injected by tests), in whole seconds."""
    return int(current_app.config["OPENIM_CLOCK"]())


def mint_app_token(user_id: str, platform: int) -> IssuedToken:
    """mint_token with the app's key, lifetime and clock."""
    config = current_app.config
    return mint_token(user_id, platform, config["OPENIM_TOKEN_SECRET"], config["OPENIM_TOKEN_EXPIRE_DAYS"], app_now())


def mint_app_v3_token(user_id: str, platform: int) -> IssuedToken:
    """mint_v3_token with the app's key, lifetime and clock."""
    config = current_app.config
    key, days = config["OPENIM_TOKEN_SECRET"], config["OPENIM_TOKEN_EXPIRE_DAYS"]
    return mint_v3_token(user_id, platform, key, days, app_now())


def record_token(connection: Connection, issued: IssuedToken, recorded_for: str = "registered") -> RecordedToken:
    """Record a minted token in the connection's transaction, which the caller commits.

    `recorded_for` "registered" (the default): only while the user is
    registered, UserNotFound otherwise, checked and recorded in one statement
    that a concurrent delete_user cannot slip between. "ordinary": the same,
    and only for an account below FIRST_ACCOUNT_LEVEL_WITHOUT_TOKEN (OpenIM v3
    gives notification and bot accounts no user token); UserNotFound for those
    too, which the caller tells apart on that rare path. "anyone": a plain
    insert (an admin's token, whose userID need not be registered).

    Mint first, outside the transaction, so that write locks are held no longer
    than the statements take. After the commit, call prune_if_due.
    """
    token_hash = token_digest(issued.token)
    policy = current_app.config["OPENIM_MULTI_LOGIN"]
    kicked_by_new_token = _earlier_tokens_to_kick(issued.user_id, issued.platform, policy)
    # The INSERT ... SELECT of the user's row never comes first. On a Galera node
    # only a transaction's first statement waits for the commits made through
    # other nodes (wsrep_sync_wait), and only a read, UPDATE or DELETE: first, it
    # would find a user registered through another node a moment ago missing.
    # Under "keep", the bound's count goes first, a read: on SQLite that is also
    # before the write lock (app/storage/sqlite_writes.py), which every worker's issue
    # waits for. Under the kick policies, the kick of the earlier tokens.
    if kicked_by_new_token is not None:
        # Every record but the new one, so that the new token is valid
        # even when byte-identical to one it kicks (same second).
        connection.execute(
            update(_records)
            .where(kicked_by_new_token, _records.c.token_hash != token_hash, _records.c.status == TokenStatus.normal)
            .values(status=TokenStatus.kicked)
        )
    over_bound = kicked_by_new_token is None and _over_bound(connection, issued, token_hash)
    result = connection.execute(
        _record_statements(connection.dialect.name)[recorded_for],
        {
            "token_hash": token_hash,
            "user_id": issued.user_id,
            "platform": issued.platform,
            "status": TokenStatus.normal,
            "issued_at": issued.issued_at,
            "expires_at": issued.expires_at,
        },
    )
    if result.rowcount == 0:
        raise UserNotFound()
    if over_bound:
        _kick_beyond_bound(connection, issued, token_hash)
    return RecordedToken(issued, token_hash)


def _bound_params(issued: IssuedToken, token_hash: bytes) -> dict:
    return {"user_id": issued.user_id, "platform": issued.platform, "now": issued.issued_at, "token_hash": token_hash}


def _over_bound(connection: Connection, issued: IssuedToken, token_hash: bytes) -> bool:
    """Whether the user's other live records on the platform fill OPENIM_MAX_TOKENS_PER_PLATFORM already.

    A count answered from the index alone; the hashes are read only when the
    bound is passed (reading them at every issue cost it half again).
    """
    bound = current_app.config["OPENIM_MAX_TOKENS_PER_PLATFORM"]
    return connection.execute(_count_live_others, _bound_params(issued, token_hash)).scalar_one() >= bound


def _kick_beyond_bound(connection: Connection, issued: IssuedToken, token_hash: bytes) -> None:
    """Kick the oldest live records of the user and platform so that, with the new one, the bound holds."""
    keep = current_app.config["OPENIM_MAX_TOKENS_PER_PLATFORM"] - 1
    beyond = connection.execute(_select_beyond_bound, {**_bound_params(issued, token_hash), "keep": keep})
    connection.execute(_kick_records, {"hashes": beyond.scalars().all()})


def prune_is_due() -> bool:
    """Whether this issue prunes: one in PRUNE_EVERY, by chance."""
    return random.randrange(PRUNE_EVERY) == 0


def prune_if_due(recorded: RecordedToken) -> None:
    """Prune expired records when this issue draws the turn (see PRUNE_EVERY).

    Housekeeping never fails the request: the token is issued and recorded by
    now, and the next due prune takes up the work.
    """
    if not prune_is_due():
        return
    try:
        prune_expired_records(recorded.issued.issued_at)
    except DBAPIError as error:
        logger.warning("pruning expired token records failed: %s %s", type(error).__name__, mysql_error_code(error))


def _earlier_tokens_to_kick(user_id: str, platform: int, policy: str) -> ColumnElement[bool] | None:
    if policy == "single":
        return _records.c.user_id == user_id
    if policy == "kick_same_platform":
        return (_records.c.user_id == user_id) & (_records.c.platform == platform)
    return None  # "keep": earlier tokens stay valid, as in OpenIM, up to the bound


def prune_expired_records(now: int, limit: int = PRUNE_BATCH) -> int:
    """Delete at most `limit` records that expired a grace period ago; returns how many.

    The expired hashes are read first, without locks, and deleted by primary
    key: in the usual case, nothing has expired and nothing is written. A
    locking range scan of the expiry index (DELETE ... WHERE expires_at <= ...)
    held gap locks that Galera appliers ran into, aborting the prune with 1213.
    """
    cutoff = now - PRUNE_GRACE_SECONDS

    def prune(connection: Connection) -> int:
        expired = connection.execute(_select_expired, {"cutoff": cutoff, "limit": limit}).scalars().all()
        if not expired:
            return 0
        return connection.execute(_delete_records, {"hashes": expired}).rowcount

    return run_in_transaction(prune)


def _in_batches(conditions: list[ColumnElement[bool]], statement, batch_size: int) -> int:
    """Run `statement` on the records matching `conditions`, `batch_size` of them per transaction.

    Each batch is read and written by primary key in a short transaction of
    its own, so that no other writer waits for more than one batch. Returns
    how many records were written.
    """
    select_batch = select(_records.c.token_hash).where(*conditions).limit(batch_size)
    done = 0
    while True:

        def one_batch(connection: Connection) -> tuple[int, int]:
            hashes = connection.execute(select_batch).scalars().all()
            if not hashes:
                return 0, 0
            return len(hashes), connection.execute(statement, {"hashes": hashes}).rowcount

        found, written = run_in_transaction(one_batch)
        done += written
        if found < batch_size:
            return done


def kick_tokens(user_id: str, platform: int | None = None, batch_size: int = RECORD_BATCH) -> int:
    """Mark kicked every token of the user issued so far, on `platform` or on all.

    Returns how many records were kicked. Tokens issued afterwards are not
    affected. Batched (see _in_batches): a user with a million records holds
    no lock for long.
    """
    # No cut-off by issue time: another instance's clock may run ahead of this
    # one's. The batches end when one finds fewer than batch_size to kick, and
    # the bound keeps what concurrent issues add to a few per platform.
    conditions = [_records.c.user_id == user_id, _records.c.status == TokenStatus.normal]
    if platform is not None:
        conditions.append(_records.c.platform == platform)
    return _in_batches(conditions, _kick_records, batch_size)


def delete_records_in_batches(user_id: str, batch_size: int = RECORD_BATCH) -> int:
    """Delete the user's token records, a batch per transaction; returns how many.

    The bulk of delete_user's work, before its one short final transaction
    deletes the user and the records issued meanwhile.
    """
    return _in_batches([_records.c.user_id == user_id], _delete_records, batch_size)


@dataclass(frozen=True)
class LiveTokens:
    platform: int
    count: int
    last_expires_at: int


def live_tokens(user_id: str) -> list[LiveTokens]:
    """Per platform, how many distinct tokens of the user are live and when the last one expires."""
    rows = db.session.execute(
        select(TokenRecord.platform, func.count(), func.max(TokenRecord.expires_at))
        .where(
            TokenRecord.user_id == user_id,
            TokenRecord.status == TokenStatus.normal,
            TokenRecord.expires_at > app_now(),
        )
        .group_by(TokenRecord.platform)
        .order_by(TokenRecord.platform)
    ).all()
    return [LiveTokens(platform, count, last_expires_at) for platform, count, last_expires_at in rows]


@dataclass(frozen=True)
class TokenOwner:
    user_id: str
    platform: int
    expires_at: int


def _epoch_second(dialect_name: str, column: ColumnElement) -> ColumnElement[int]:
    """A DATETIME column (UTC, as stored) in whole seconds since the epoch, computed by the database."""
    if dialect_name == "sqlite":
        # Without the fraction, which strftime would round: 00:00:00.9996 is second 1 to it.
        whole_seconds = func.substr(column, literal_column("1"), literal_column("19"))
        return cast(func.strftime(literal_column("'%s'"), whole_seconds), Integer)
    if dialect_name in ("mysql", "mariadb"):
        # Not UNIX_TIMESTAMP(), which reads the DATETIME in the session's time zone.
        return func.timestampdiff(literal_column("SECOND"), literal_column("'1970-01-01'"), column)
    raise NotImplementedError(f"token records on {dialect_name}")


@functools.lru_cache(maxsize=8)
def _record_and_user_read(dialect_name: str) -> DriverRead:
    """One read answers a parse: the record, and its user's registration second (NULL when not registered).

    Plain values only (see DriverRead): the status's name, and the
    registration time already in seconds, so that no datetime is parsed.
    """
    return DriverRead(
        select(
            _records.c.user_id,
            _records.c.platform,
            _records.c.status,
            _records.c.issued_at,
            _epoch_second(dialect_name, _users.c.created_at),
        )
        .select_from(_records.outerjoin(_users, _users.c.user_id == _records.c.user_id))
        .where(_records.c.token_hash == bindparam("token_hash"))
    )


def _verification_keys() -> list[str]:
    config = current_app.config
    return [config["OPENIM_TOKEN_SECRET"], *config["OPENIM_PREVIOUS_TOKEN_SECRETS"]]


def parse_token(token: str | None) -> TokenOwner:
    """Whose a live OpenIM v2 token is: verified with the current or a previous key, recorded, not kicked.

    Raises in SPEC §9's order: the errors of verify_token, then the record's (recorded_owner).
    """
    if not token:
        raise TokenMalformed()
    claims = verify_token(token, _verification_keys(), app_now())
    return recorded_owner(token, claims["UID"], claims["exp"])


def parse_v3_token(token: str | None) -> TokenOwner:
    """parse_token for an OpenIM v3 token (SPEC §12): the same keys, the same record check."""
    if not token:
        raise TokenMalformed()
    claims = verify_v3_token(token, _verification_keys(), app_now())
    return recorded_owner(token, claims["UserID"], claims["exp"])


def recorded_owner(token: str, user_id: str, expires_at: int) -> TokenOwner:
    """The owner of a verified token, by its record; the same check for both dialects.

    TokenNotRecorded when it was never issued here, when its user is not
    registered, or when it was minted before its user registered (a reused
    userID inherits nothing); TokenKicked when its record is kicked. Only an
    OpenIM v3 admin token (platform 10) stands without a registered user: v3
    admins need not be registered. So a record that outlived its user's delete
    (issued through another Galera node in that very moment) is refused too.
    One read on the request's connection, straight on the driver (see
    app/storage/driver_reads.py): no snapshot older than a kick, no second connection
    for a token that the request then issues (v3's get_user_token), and no
    SQLAlchemy execution on the path every authenticated request takes.
    """
    connection = fresh_read_connection()
    record = _record_and_user_read(connection.dialect.name).first(connection, {"token_hash": token_digest(token)})
    if record is None:
        raise TokenNotRecorded()
    recorded_user_id, platform, status, issued_at, registered_at = record
    if recorded_user_id != user_id:
        raise TokenNotRecorded()
    if registered_at is None:
        if platform != ADMIN_PLATFORM:
            raise TokenNotRecorded()
    elif issued_at < registered_at:
        raise TokenNotRecorded()
    if status == TokenStatus.kicked.name:
        raise TokenKicked()
    return TokenOwner(user_id, platform, expires_at)
