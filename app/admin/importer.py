"""Bulk import of users from CSV or JSON Lines, streamed in batches (docs/cli.md).

Every row is validated with the schema of /auth/user_register; rows whose
userID exists are skipped, never overwritten, and a userID repeated within the
file is reported on the line that repeats it. Memory stays flat however long
the file is: one batch of rows at a time, and the userIDs seen so far on disk.
"""

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO

from marshmallow import ValidationError
from sqlalchemy import Insert, insert
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Connection, Dialect

from app.admin.import_files import Row, read_rows
from app.admin.seen_user_ids import SeenUserIds
from app.rules import clock, tokens
from app.rules.users import NO_OPERATION_ID
from app.storage.database import run_in_transaction
from app.storage.models import User, utc_datetime
from app.wire_format.field_rules import import_row_schema
from app.wire_format.schema_base import describe_errors

# Not a value any request can send: an imported user is never "re-registered" as a retry.
DEFAULT_OPERATION_ID = NO_OPERATION_ID
REPEATED_USER_ID = "userID: Repeats an earlier row of this file (the first is kept)."
KEPT_INVALID_LINES = 1000
UNIX_EPOCH = datetime(1970, 1, 1)


@dataclass
class ImportSummary:
    created: int = 0
    existing: int = 0
    invalid_count: int = 0
    # (line number or userID, reason) of the first invalid rows; the count has them all.
    invalid: list[tuple[int | str, str]] = field(default_factory=list)

    def add_invalid(self, where: int | str, reason: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < KEPT_INVALID_LINES:
            self.invalid.append((where, reason))


_users = User.__table__
# The stored columns a row may leave out, and what they then hold: the model's
# own defaults (created_at, a clock, is set per batch), and the import's operationID.
COLUMN_DEFAULTS = {
    **{
        column.key: column.default.arg
        for column in _users.columns
        if column.default is not None and column.default.is_scalar
    },
    "operation_id": DEFAULT_OPERATION_ID,
}


def _insert_ignoring_duplicates(dialect: Dialect) -> Insert:
    """INSERT that skips rows whose userID exists, and counts only the rows it stored.

    On MySQL not ON DUPLICATE KEY UPDATE: with the FOUND_ROWS flag that
    SQLAlchemy sets, its row count includes the rows it skipped. IGNORE also
    turns data errors into warnings, but every row has passed the schema,
    whose limits are the columns'.
    """
    if dialect.name == "sqlite":
        return sqlite.insert(_users).on_conflict_do_nothing(index_elements=["user_id"])
    if dialect.name in ("mysql", "mariadb"):
        return mysql.insert(_users).prefix_with("IGNORE")
    return insert(_users)


class _BatchInsert:
    """The INSERT of a batch for one dialect, compiled once; its rows go to the driver's executemany.

    `connection.execute(statement, rows)` prepares every row anew (a dict of all
    the statement's parameters, then a pass over them for processing) and took
    longer than SQLite took to store the row. Here each row goes to the driver
    as it is, or as a tuple in the statement's parameter order for the qmark and
    format paramstyles, after the bind processors that the columns' types have on
    this dialect (on SQLite, created_at's datetime to text).
    exec_driver_sql still wraps driver errors, so retries and 503s are as everywhere.
    """

    def __init__(self, dialect: Dialect):
        compiled = _insert_ignoring_duplicates(dialect).compile(dialect=dialect)
        self.sql = compiled.string
        self.parameter_order = compiled.positiontup if compiled.positional else None
        self.processors = {
            column.key: processor
            for column in _users.columns
            # The dialect's own type: generic DateTime has no processor, SQLite's DATETIME has.
            if (processor := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }

    def execute(self, connection: Connection, rows: list[dict]) -> int:
        """Insert `rows`; how many were stored (not those whose userID exists)."""
        for key, process in self.processors.items():
            # Most rows of a batch share the value (created_at, the batch's clock): each is processed once.
            processed = {}
            for row in rows:
                value = row[key]
                if value not in processed:
                    processed[value] = process(value)
                row[key] = processed[value]
        if self.parameter_order is not None:
            rows = [tuple(map(row.__getitem__, self.parameter_order)) for row in rows]
        return connection.exec_driver_sql(self.sql, rows).rowcount


@functools.lru_cache(maxsize=8)
def _batch_insert(dialect: Dialect) -> _BatchInsert:
    return _BatchInsert(dialect)


def store_batch(profiles: list[dict]) -> int:
    """Insert the profiles whose userID is new, in one transaction; returns how many were inserted.

    The count is the INSERT's own: a user registered by a request between
    the start of the import and this INSERT is skipped and not counted.
    """
    unique = {}
    for profile in profiles:
        unique.setdefault(profile["user_id"], profile)
    # As a registration: a userID deleted this second gets its new owner the next one.
    tokens.wait_past_previous_owners(list(unique))

    def insert_new(connection: Connection) -> int:
        # The app's clock, as for a registration: parse_token compares it with tokens' iat.
        defaults = {**COLUMN_DEFAULTS, "created_at": utc_datetime(clock.now())}
        rows = [{**defaults, **profile} for profile in unique.values()]
        return _batch_insert(connection.dialect).execute(connection, rows) if rows else 0

    return run_in_transaction(insert_new)


def from_unix_milliseconds(milliseconds: int) -> datetime:
    """createTime (unix ms) as the naive UTC datetime that created_at holds."""
    return UNIX_EPOCH + timedelta(milliseconds=milliseconds)


def import_rows(
    rows: Iterable[tuple[int | str, Row]],
    batch_size: int = 1000,
    on_batch: Callable[[], None] | None = None,
) -> ImportSummary:
    """Validate and store every (where, row); a batch is committed as a whole.

    `where` names the row in the summary: a line number, or a userID. The
    file import and `users import-openim` both come through here. A userID
    that repeats an earlier row is reported on its own row, not stored.
    """
    summary = ImportSummary()
    batch: list[dict] = []
    batch_places: list[int | str] = []
    seen_user_ids = SeenUserIds()

    def flush() -> None:
        first_sightings = seen_user_ids.first_sightings([profile["user_id"] for profile in batch])
        for where, first in zip(batch_places, first_sightings, strict=True):
            if not first:
                summary.add_invalid(where, REPEATED_USER_ID)
        profiles = [profile for profile, first in zip(batch, first_sightings, strict=True) if first]
        created = store_batch(profiles) if profiles else 0
        summary.created += created
        summary.existing += len(profiles) - created
        batch.clear()
        batch_places.clear()
        if on_batch is not None:
            on_batch()

    try:
        for where, row in rows:
            if isinstance(row, str):
                summary.add_invalid(where, row)
                continue
            try:
                profile = import_row_schema.load_wire(row)
            except ValidationError as exc:
                summary.add_invalid(where, describe_errors(exc.messages))
                continue
            if "create_time" in profile:
                profile["created_at"] = from_unix_milliseconds(profile.pop("create_time"))
            batch.append(profile)
            batch_places.append(where)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    finally:
        seen_user_ids.close()
    return summary


def import_users(
    source: BinaryIO,
    file_format: str = "auto",
    batch_size: int = 1000,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import every row of the CSV or JSON Lines `source`; on_progress gets the bytes read per batch."""
    position = 0

    def report_bytes_read() -> None:
        nonlocal position
        if on_progress is not None and source.seekable():
            on_progress(source.tell() - position)
            position = source.tell()

    return import_rows(read_rows(source, file_format), batch_size, report_bytes_read)
