"""Reads of the token records: the one behind every token check, and the live tokens per platform.

The check's read runs straight on the driver (driver_statements.py): it is the
path every authenticated request takes.
"""

import functools
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, bindparam, cast, func, literal_column, select
from sqlalchemy.engine import Connection

from app.extensions import db
from app.storage.driver_statements import DriverStatement
from app.storage.models import LIVE_STATUSES, TokenRecord, User

_records = TokenRecord.__table__
_users = User.__table__


@dataclass(frozen=True)
class LiveTokens:
    platform: int
    count: int
    last_expires_at: int


def live_tokens(user_id: str, now: int) -> list[LiveTokens]:
    """Per platform, how many distinct tokens of the user are live and when the last one expires."""
    rows = db.session.execute(
        select(TokenRecord.platform, func.count(), func.max(TokenRecord.expires_at))
        .where(
            TokenRecord.user_id == user_id,
            TokenRecord.status.in_(LIVE_STATUSES),
            TokenRecord.expires_at > now,
        )
        .group_by(TokenRecord.platform)
        .order_by(TokenRecord.platform)
    ).all()
    return [LiveTokens(platform, count, last_expires_at) for platform, count, last_expires_at in rows]


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
def _record_and_user_read(dialect_name: str) -> DriverStatement:
    """One read answers a parse: the record, and its user's registration second (NULL when not registered).

    Plain values only (see DriverStatement): the status's name, and the
    registration time already in seconds, so that no datetime is parsed.
    """
    return DriverStatement(
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


def read_record(connection: Connection, token_hash: bytes) -> tuple | None:
    """The record of `token_hash`: (user_id, platform, status name, issued_at, its user's registration second).

    The registration second is None when the user is not registered. One read
    on the given connection, straight on the driver (see driver_statements.py): the
    path every authenticated request takes runs no SQLAlchemy execution.
    """
    return _record_and_user_read(connection.dialect.name).first(connection, {"token_hash": token_hash})
