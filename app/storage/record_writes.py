"""The token records' writes after the issue: kicks and deletes in batches, kicks by hash, and settling's lock.

The records' other SQL (recording, the bound, the prune, the reads) is
app/storage/token_records.py's. Each function tells its caller (`on_kicks`,
`on_deletes`) which records it kicked or deleted before it commits, so that
OpenIM's Redis learns of a kick before the records do (app/rules/token_mirror.py).
"""

from sqlalchemy import bindparam, delete, literal_column, select, update
from sqlalchemy.engine import Connection

from app.openim import V3_PLATFORM_NAMES
from app.storage.database import run_in_transaction
from app.storage.driver_statements import DriverStatement
from app.storage.models import LIVE_STATUS_LITERALS, TokenRecord, TokenStatus, status_literal
from app.storage.token_records import (
    KICKED_RECORD_COLUMNS,
    RECORD_BATCH,
    KickedRecords,
    OnKicks,
    _kick_records,
    kick_rows,
    kicked_records,
)

_records = TokenRecord.__table__
# Only an issue whose field must be settled (app/rules/token_mirror.py) makes it: no driver statement.
_confirm_pending = (
    update(_records)
    .where(_records.c.token_hash == bindparam("confirmed"), _records.c.status == TokenStatus.pending)
    .values(status=TokenStatus.normal)
)
# A user's kick and delete, a batch at a time (_in_batches), on the driver: the SQL of a
# batch is the same every time, a thousand times for a million records, and SQLAlchemy's
# work per statement (an expanding IN rendered anew, a result object) was a third of it.
_BATCH_HASH_NAMES = tuple(f"hash_{index}" for index in range(RECORD_BATCH))
_batch_hashes = _records.c.token_hash.in_(
    [bindparam(name, type_=_records.c.token_hash.type) for name in _BATCH_HASH_NAMES]
)
_kick_batch = DriverStatement(
    update(_records)
    .where(_batch_hashes, _records.c.status.in_(LIVE_STATUS_LITERALS))
    .values(status=status_literal(TokenStatus.kicked))
)
_delete_batch = DriverStatement(delete(_records).where(_batch_hashes))


def _batch_of(*conditions) -> tuple[DriverStatement, DriverStatement]:
    """A batch of records: its hashes only, and its KickedRecords' columns (for `told`, below).

    Two statements, because the hashes alone are read from the index on
    MariaDB. OFFSET spelled out, or SQLite's compiler binds one.
    """
    limit, offset = literal_column(str(RECORD_BATCH)), literal_column("0")
    return tuple(
        DriverStatement(select(*columns).where(*conditions).limit(limit).offset(offset))
        for columns in ((_records.c.token_hash,), KICKED_RECORD_COLUMNS)
    )


_select_batch_of_user = _batch_of(_records.c.user_id == bindparam("user_id"))
# A platform at a time (kick_tokens): the index leads straight to the live records.
_select_live_batch = _batch_of(
    _records.c.user_id == bindparam("user_id"),
    _records.c.platform == bindparam("platform"),
    _records.c.status.in_(LIVE_STATUS_LITERALS),
)
# Locking, so that it waits for a kick or delete of the record that has not committed yet.
_status_of = select(_records.c.status).where(_records.c.token_hash == bindparam("token_hash")).with_for_update()


def confirm(connection: Connection, token_hash: bytes) -> TokenStatus | None:
    """Set a pending record normal; the record's status afterwards, None when it is gone.

    Kicked when a kick reached the record since it was recorded, None when a
    delete_user did; normal too when a byte-identical issue confirmed it first.
    The UPDATE conflicts with every kick and delete of the record, on each
    backend (row locks, SQLite's write lock, Galera's certification): one of
    them waits for, or is retried after, the other's commit.
    """
    if connection.execute(_confirm_pending, {"confirmed": token_hash}).rowcount == 1:
        return TokenStatus.normal
    return connection.execute(_status_of, {"token_hash": token_hash}).scalar_one_or_none()


# Locking, as the kick's UPDATE reads: the same rows, whatever this transaction's snapshot.
_live_by_hashes = (
    select(*KICKED_RECORD_COLUMNS)
    .where(_records.c.token_hash.in_(bindparam("hashes", expanding=True)), _records.c.status.in_(LIVE_STATUS_LITERALS))
    .with_for_update()
)


def kick_by_hash(connection: Connection, hashes: list[bytes], on_kicks: OnKicks | None = None) -> int:
    """Kick the live records among `hashes`; how many were. `on_kicks` is told which, before the caller commits."""
    if not hashes:
        return 0
    if on_kicks is None:
        return connection.execute(_kick_records, {"hashes": hashes}).rowcount
    rows = connection.execute(_live_by_hashes, {"hashes": hashes}).all()
    kicked: KickedRecords = {}
    kick_rows(connection, rows, kicked)
    if kicked:
        on_kicks(connection, kicked)
    return len(rows)


def _in_batches(
    select_batch: tuple[DriverStatement, DriverStatement],
    parameters: dict,
    write_batch: DriverStatement,
    told: OnKicks | None,
) -> int:
    """Run `write_batch` on the records `select_batch` finds, RECORD_BATCH of them per transaction.

    Each batch is read and written by primary key in a short transaction of
    its own, so that no other writer waits for more than one batch; `told`
    learns each batch's records before it commits. Returns how many records
    were written.
    """
    done = 0
    while True:

        def one_batch(connection: Connection) -> tuple[int, int]:
            rows = select_batch[told is not None].rows(connection, parameters)
            if not rows:
                return 0, 0
            hashes = [row[0] for row in rows]
            # The statement takes exactly RECORD_BATCH hashes: a short batch repeats its last one.
            hashes += hashes[-1:] * (RECORD_BATCH - len(hashes))
            written = write_batch.rowcount(connection, dict(zip(_BATCH_HASH_NAMES, hashes, strict=True)))
            if told is not None:
                told(connection, kicked_records(rows))
            return len(rows), written

        found, written = run_in_transaction(one_batch)
        done += written
        if found < RECORD_BATCH:
            return done


def kick_tokens(user_id: str, platform: int | None = None, on_kicks: OnKicks | None = None) -> int:
    """Mark kicked every token of the user issued so far, on `platform` or on all.

    Returns how many records were kicked. Tokens issued afterwards are not
    affected. Batched (see _in_batches): a user with a million records holds
    no lock for long. `on_kicks` is told each batch's records before it commits.
    """
    # No cut-off by issue time: another instance's clock may run ahead of this
    # one's. The batches end when one finds fewer than batch_size to kick, and
    # the bound keeps what concurrent issues add to a few per platform.
    # A platform at a time: the index (user, platform, status, expiry) then leads each batch's
    # SELECT straight to the live records, instead of past every record kicked so far (a
    # million-record user took minutes, each batch walking further).
    kicked = 0
    for each_platform in V3_PLATFORM_NAMES if platform is None else [platform]:
        live_of_platform = {"user_id": user_id, "platform": each_platform}
        kicked += _in_batches(_select_live_batch, live_of_platform, _kick_batch, on_kicks)
    return kicked


def delete_records_in_batches(user_id: str, on_deletes: OnKicks | None = None) -> int:
    """Delete the user's token records, a batch per transaction; returns how many.

    The bulk of delete_user's work, before its one short final transaction
    deletes the user and the records issued meanwhile. `on_deletes` is told
    each batch's records before it commits.
    """
    return _in_batches(_select_batch_of_user, {"user_id": user_id}, _delete_batch, on_deletes)


def delete_records_of(connection: Connection, user_id: str) -> KickedRecords:
    """Delete all of the user's records in the connection's transaction (after the batches); which were."""
    # Locking, as the DELETE reads: the same rows, whatever this transaction's snapshot.
    of_user = select(*KICKED_RECORD_COLUMNS).where(_records.c.user_id == user_id).with_for_update()
    deleted = connection.execute(of_user).all()
    if deleted:
        connection.execute(delete(_records).where(_records.c.user_id == user_id))
    return kicked_records(deleted)
