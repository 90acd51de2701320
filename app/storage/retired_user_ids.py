"""Retired userIDs: the last second a deleted user's tokens were issued (docs/api-v2.md).

OpenIM's tokens carry whole seconds and no unique ID, so the next owner of a
userID must get its first token after that second (app/rules/tokens.py
waits for it).
"""

import hashlib

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.engine import Connection

from app.storage.driver_statements import DriverStatement
from app.storage.models import TokenRecord, TokenStatus

_records = TokenRecord.__table__
# On the driver: every registration reads it (Core's IN list cost 30 times SQLite's read).
_latest_retirement_of_one = DriverStatement(
    select(func.max(_records.c.issued_at)).where(_records.c.token_hash == bindparam("retired"))
)

# Kept among the token records, as a record of the userID (kicked, platform 0,
# never live) under a hash that no token has, and pruned like an expired one:
# a few seconds of it are all that matter.
PLATFORM = 0
# How far ahead of this instance's clock another's may run and still be waited for.
RETIREMENT_HORIZON_SECONDS = 3600


def _retirement_hash(user_id: str) -> bytes:
    return hashlib.sha256(b"retired userID\0" + user_id.encode("utf-8")).digest()


def retire(connection: Connection, user_id: str, last_second: int) -> None:
    """Record that the userID's previous owner held tokens up to `last_second`.

    After token_records.delete_records_of, in the same transaction.
    """
    connection.execute(
        insert(_records).values(
            token_hash=_retirement_hash(user_id),
            user_id=user_id,
            platform=PLATFORM,
            status=TokenStatus.kicked,
            issued_at=last_second,
            expires_at=last_second,
        )
    )


def any_retirement_from(connection: Connection, second: int) -> bool:
    """Whether any userID was retired at `second` or later: a range of the expiry index, not a lookup per userID.

    Live tokens expire later too, so the range ends where no clock of a
    working deployment reaches (RETIREMENT_HORIZON_SECONDS on).
    """
    recent = (
        select(_records.c.token_hash)
        .where(
            _records.c.expires_at.between(second, second + RETIREMENT_HORIZON_SECONDS),
            _records.c.platform == PLATFORM,
        )
        .limit(1)
    )
    return connection.execute(recent).first() is not None


def latest_retirement(connection: Connection, user_ids: list[str]) -> int | None:
    """The newest retirement second among `user_ids`, None when none was deleted lately."""
    if len(user_ids) == 1:
        return _latest_retirement_of_one.first(connection, {"retired": _retirement_hash(user_ids[0])})[0]
    hashes = [_retirement_hash(user_id) for user_id in user_ids]
    return connection.execute(select(func.max(_records.c.issued_at)).where(_records.c.token_hash.in_(hashes))).scalar()
