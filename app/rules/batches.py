"""Registering users a batch at a time (OpenIM v3's user_register, docs/api-v3.md): all or none.

A batch stores every user or none of them. A userID that exists makes the
whole batch AlreadyRegistered, unless every user of the batch was created by
this same operationID: that is the caller retrying a batch that was stored.
"""

from collections import Counter

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app import metrics
from app.errors import AlreadyRegistered, InvalidInput
from app.extensions import db
from app.rules import clock, tokens
from app.rules.users import NEVER_A_RETRY, refuse_admin_ids
from app.storage.database import run_in_transaction
from app.storage.models import User, utc_datetime

MAX_BATCH = 1000

_users = User.__table__
# Every row of one executemany must bind the same columns: what a profile may leave out.
_OPTIONAL_DEFAULTS = {"face_url": "", "ex": "", "app_manger_level": 0, "global_recv_msg_opt": 0}


def register_batch(profiles: list[dict], operation_id: str) -> None:
    """Store all of `profiles` in one transaction, or none (see the module's docstring).

    InvalidInput for an empty or oversized batch or a userID twice in it;
    AlreadyRegistered when any userID exists and this is not a retry.
    """
    if not 1 <= len(profiles) <= MAX_BATCH:
        raise InvalidInput(f"users: from 1 to {MAX_BATCH} users", fields={"users": [f"From 1 to {MAX_BATCH} users."]})
    user_ids = [profile["user_id"] for profile in profiles]
    repeated = [user_id for user_id, count in Counter(user_ids).items() if count > 1]
    if repeated:
        raise InvalidInput(
            "users: a userID appears more than once", fields={"users": ["A userID appears more than once."]}
        )
    refuse_admin_ids(user_ids)
    tokens.wait_past_previous_owners(user_ids)
    # Registered at the app's clock, as a single registration: parse_token compares it with tokens' mint time.
    registered_at = utc_datetime(clock.now())
    rows = [
        {**_OPTIONAL_DEFAULTS, **profile, "operation_id": operation_id, "created_at": registered_at}
        for profile in profiles
    ]
    try:
        run_in_transaction(lambda connection: connection.execute(insert(_users), rows))
    except IntegrityError:
        if not _created_by(user_ids, operation_id):
            raise AlreadyRegistered() from None
    else:
        metrics.count_registrations(len(rows))


def _created_by(user_ids: list[str], operation_id: str) -> bool:
    """Whether every one of `user_ids` exists and was created with `operation_id`.

    Read on a connection of its own, outside the Session's snapshot, which
    may predate the winning batch.
    """
    with db.engine.connect() as connection:
        stored = connection.execute(
            select(_users.c.user_id, _users.c.operation_id).where(_users.c.user_id.in_(user_ids))
        ).all()
    return (
        operation_id not in NEVER_A_RETRY
        and len(stored) == len(user_ids)
        and all(row.operation_id == operation_id for row in stored)
    )
