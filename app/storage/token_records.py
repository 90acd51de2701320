"""The token records' SQL (docs/api-v2.md): who was issued which token, and which were kicked.

Every issue is recorded by the token's SHA-256 (never the token) in the
database all instances share, so a kick through one instance is seen by all.
What to record, when, and what a record means for a token are the token
door's (app/rules/tokens.py): this module only reads and writes the rows,
with the settings it is given.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import ColumnElement, bindparam, delete, func, literal_column, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Connection

from app.errors import UserNotFound
from app.jwt_tokens import IssuedToken
from app.openim import FIRST_ACCOUNT_LEVEL_WITHOUT_TOKEN
from app.storage.database import run_in_transaction
from app.storage.driver_statements import DriverStatement
from app.storage.models import LIVE_STATUS_LITERALS, LIVE_STATUSES, TokenRecord, TokenStatus, User

# At most this many expired records per prune (see app/rules/tokens.py's PRUNE_EVERY).
PRUNE_BATCH = 1000
# Instances' clocks differ a little: keep records a while past their expiry so
# that no instance still accepting a token finds its record gone.
PRUNE_GRACE_SECONDS = 3600
# Kicking or deleting all of a user's records: this many per transaction, so
# that other writers (SQLite's single write lock) wait for one batch at most.
RECORD_BATCH = 1000


# On the table, not the mapped class: plain Core statements, without the ORM's machinery.
_records = TokenRecord.__table__
_users = User.__table__


class KickedRecord(NamedTuple):
    """A record that a unit of work kicked or deleted."""

    token_hash: bytes
    platform: int
    issued_at: int
    expires_at: int


# The records a unit of work kicked or deleted, by platform: what OpenIM's Redis must be told
# before the unit commits (`on_kicks` and `on_deletes` below).
KickedRecords = dict[int, list[KickedRecord]]
OnKicks = Callable[[Connection, KickedRecords], None]
# The columns of a KickedRecord, in its order.
KICKED_RECORD_COLUMNS = (
    _records.c.token_hash,
    _records.c.platform,
    _records.c.issued_at,
    _records.c.expires_at,
)


def kicked_records(rows) -> KickedRecords:
    """Rows of KICKED_RECORD_COLUMNS, by platform."""
    kicked: KickedRecords = {}
    for row in rows:
        record = KickedRecord(*row)
        kicked.setdefault(record.platform, []).append(record)
    return kicked


@dataclass(frozen=True)
class RecordedToken:
    issued: IssuedToken
    token_hash: bytes
    kicked: KickedRecords = field(default_factory=dict)  # by the multi-login policy or the bound


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
    _records.c.status.in_(LIVE_STATUSES),
    _records.c.expires_at > bindparam("now"),
)
# The new token's own record is not counted: byte-identical tokens share one.
_live_others_of_platform = (*_live_of_platform, _records.c.token_hash != bindparam("token_hash"))
# Answered from ix_token_records_user_platform_status_expiry alone, no row read. On the
# driver (driver_statements.py), as the recording INSERT: every issue makes both.
_count_live_others = DriverStatement(
    select(func.count())
    .select_from(_records)
    .where(
        _records.c.user_id == bindparam("user_id"),
        _records.c.platform == bindparam("platform"),
        _records.c.status.in_(LIVE_STATUS_LITERALS),
        _records.c.expires_at > bindparam("now"),
        _records.c.token_hash != bindparam("token_hash"),
    )
)
# The user's live records on a platform beyond the newest `keep` (the new one excepted), oldest last.
_select_beyond_bound = (
    select(*KICKED_RECORD_COLUMNS)
    .where(*_live_others_of_platform)
    .order_by(_records.c.expires_at.desc())
    .limit(RECORD_BATCH)
    .offset(bindparam("keep"))
)
_kick_records = (
    update(_records)
    .where(_records.c.token_hash.in_(bindparam("hashes", expanding=True)), _records.c.status.in_(LIVE_STATUSES))
    .values(status=TokenStatus.kicked)
)


def _upsert(statement_of: Callable, dialect_name: str):
    """`statement_of(insert)`'s INSERT that, for a hash already recorded, sets the record's status anew.

    Byte-identical tokens (same user, platform, second) share one record; a
    token issued again after a kick is valid again (docs/api-v2.md).
    """
    if dialect_name == "sqlite":
        statement = statement_of(sqlite.insert(_records))
        status = {"status": statement.excluded.status}
        return statement.on_conflict_do_update(index_elements=["token_hash"], set_=status)
    if dialect_name in ("mysql", "mariadb"):
        statement = statement_of(mysql.insert(_records))
        return statement.on_duplicate_key_update(status=statement.inserted.status)
    raise NotImplementedError(f"token records on {dialect_name}")


@functools.lru_cache(maxsize=8)
def _record_statements(dialect_name: str) -> dict:
    """The recording INSERTs of a dialect, built once, by whom they record for (see record_token)."""

    def of_users(select_user):
        return _upsert(lambda insert: insert.from_select(list(_record_values), select_user), dialect_name)

    statements = {
        "registered": of_users(_select_record_of_user),
        "ordinary": of_users(
            _select_record_of_user.where(
                _users.c.app_manger_level < literal_column(str(FIRST_ACCOUNT_LEVEL_WITHOUT_TOKEN))
            )
        ),
        "anyone": _upsert(lambda insert: insert.values(_record_values), dialect_name),
    }
    return {name: DriverStatement(statement) for name, statement in statements.items()}


def record_token(
    connection: Connection,
    issued: IssuedToken,
    token_hash: bytes,
    *,
    recorded_for: str = "registered",
    multi_login: str = "keep",
    bound: int,
    status: TokenStatus = TokenStatus.normal,
    on_kicks: OnKicks | None = None,
) -> RecordedToken:
    """Record a minted token in the connection's transaction, which the caller commits.

    `recorded_for` "registered" (the default): only while the user is
    registered, UserNotFound otherwise, checked and recorded in one statement
    that a concurrent delete_user cannot slip between. "ordinary": the same,
    and only for an account below FIRST_ACCOUNT_LEVEL_WITHOUT_TOKEN (OpenIM v3
    gives notification and bot accounts no user token); UserNotFound for those
    too, which the caller tells apart on that rare path. "anyone": a plain
    insert (an admin's token, whose userID need not be registered).

    `multi_login` (OPENIM_MULTI_LOGIN) says which earlier records the new one
    kicks; `bound` (OPENIM_MAX_TOKENS_PER_PLATFORM) how many live records of the
    user and platform stay, the new one included. `on_kicks` is told the
    records they kicked, before the caller commits.
    """
    kicked_by_new_token = _earlier_tokens_to_kick(issued.user_id, issued.platform, multi_login)
    # The INSERT ... SELECT of the user's row never comes first. On a Galera node
    # only a transaction's first statement waits for the commits made through
    # other nodes (wsrep_sync_wait), and only a read, UPDATE or DELETE: first, it
    # would find a user registered through another node a moment ago missing.
    # Under "keep", the bound's count goes first, a read: on SQLite that is also
    # before the write lock (app/storage/sqlite_writes.py), which every worker's issue
    # waits for. Under the kick policies, the kick of the earlier tokens.
    kicked: KickedRecords = {}
    if kicked_by_new_token is not None:
        # Every record but the new one, so that the new token is valid
        # even when byte-identical to one it kicks (same second).
        earlier = (kicked_by_new_token, _records.c.token_hash != token_hash, _records.c.status.in_(LIVE_STATUSES))
        if on_kicks is None:
            connection.execute(update(_records).where(*earlier).values(status=TokenStatus.kicked))
        else:  # read, then kicked by hash: on_kicks is told which
            rows = connection.execute(select(*KICKED_RECORD_COLUMNS).where(*earlier)).all()
            kick_rows(connection, rows, kicked)
    over_bound = kicked_by_new_token is None and _over_bound(connection, issued, token_hash, bound)
    recorded = _record_statements(connection.dialect.name)[recorded_for].rowcount(
        connection,
        {
            "token_hash": token_hash,
            "user_id": issued.user_id,
            "platform": issued.platform,
            "status": status.value,  # as the column stores it: the driver gets no type processing
            "issued_at": issued.issued_at,
            "expires_at": issued.expires_at,
        },
    )
    if recorded == 0:
        raise UserNotFound()
    if over_bound:
        beyond = _bound_params(issued, token_hash) | {"keep": bound - 1}
        kick_rows(connection, connection.execute(_select_beyond_bound, beyond).all(), kicked)
    if kicked and on_kicks is not None:
        on_kicks(connection, kicked)
    return RecordedToken(issued, token_hash, kicked)


def kick_rows(connection: Connection, rows, kicked: KickedRecords) -> None:
    """Kick the records of `rows` (KICKED_RECORD_COLUMNS), adding them to `kicked`."""
    if not rows:
        return
    connection.execute(_kick_records, {"hashes": [row[0] for row in rows]})
    for platform, records in kicked_records(rows).items():
        kicked.setdefault(platform, []).extend(records)


def _bound_params(issued: IssuedToken, token_hash: bytes) -> dict:
    return {"user_id": issued.user_id, "platform": issued.platform, "now": issued.issued_at, "token_hash": token_hash}


def _over_bound(connection: Connection, issued: IssuedToken, token_hash: bytes, bound: int) -> bool:
    """Whether the user's other live records on the platform fill the bound already.

    A count answered from the index alone; the hashes are read only when the
    bound is passed (reading them at every issue cost it half again).
    """
    (count,) = _count_live_others.first(connection, _bound_params(issued, token_hash))
    return count >= bound


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


def latest_issue(connection: Connection, user_id: str) -> int | None:
    """The newest issue second among the user's records (its retirement's included)."""
    return connection.execute(select(func.max(_records.c.issued_at)).where(_records.c.user_id == user_id)).scalar()
