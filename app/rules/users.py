"""User rules with no HTTP in them: register, look up, update, list, delete.

The views, the CLI and the tests all call these.
"""

from collections.abc import Iterator

from sqlalchemy import Row, Select, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from app import metrics
from app.errors import AlreadyRegistered, UserNotFound
from app.extensions import db
from app.jwt_tokens import IssuedToken
from app.storage import token_records
from app.storage.database import retry_transient, run_in_transaction
from app.storage.models import TokenRecord, User, utc_datetime

# Hot paths (user_token, user_register) run these prepared Core statements, on
# the table rather than the mapped class: no ORM compilation, loading or flush.
_users = User.__table__
_select_user_id = select(_users.c.user_id).where(_users.c.user_id == bindparam("user_id"))
_select_operation_id = select(_users.c.operation_id).where(_users.c.user_id == bindparam("user_id"))
_insert_user = insert(_users)
_records = TokenRecord.__table__


def find_user(user_id: str) -> User | None:
    return db.session.execute(select(User).where(User.user_id == user_id)).scalar_one_or_none()


def get_user(user_id: str) -> User:
    user = find_user(user_id)
    if user is None:
        raise UserNotFound()
    return user


def _read_now(statement: Select, user_id: str) -> Row | None:
    """The first row of `statement` for `user_id`, read on a connection of its own.

    Not in the Session's transaction, whose snapshot (MySQL's REPEATABLE READ)
    may predate a user just registered through a Core transaction.
    """
    with db.engine.connect() as connection:
        return connection.execute(statement, {"user_id": user_id}).first()


def is_registered(user_id: str) -> bool:
    return _read_now(_select_user_id, user_id) is not None


def issue_token(user_id: str, platform: int) -> IssuedToken:
    """A token for a registered user (UserNotFound otherwise), minted and recorded.

    record_token checks the user and records in one statement.
    """
    issued = token_records.mint_app_token(user_id, platform)
    token_records.prune_if_due(run_in_transaction(lambda connection: token_records.record_token(connection, issued)))
    metrics.count_token(platform)
    return issued


def register(profile: dict, operation_id: str) -> None:
    """Store a new user; the database's primary key decides who wins a race.

    A userID that exists answers AlreadyRegistered, except when the stored
    user was created with this same operationID: that is the caller retrying.
    """
    try:
        now = token_records.app_now()
        run_in_transaction(lambda connection: _insert(connection, profile, operation_id, now))
    except IntegrityError:
        _require_same_operation(profile["user_id"], operation_id)
    else:
        metrics.count_registrations()


def register_and_issue_token(profile: dict, operation_id: str, platform: int) -> IssuedToken:
    """register, and a token for `platform`; a new user and its token are one transaction.

    A retry of the same operation gets a fresh token for the user it created.
    """
    user_id = profile["user_id"]
    issued = token_records.mint_app_token(user_id, platform)

    def insert_user_and_token(connection: Connection) -> token_records.RecordedToken:
        _insert(connection, profile, operation_id, issued.issued_at)
        return token_records.record_token(connection, issued)

    try:
        recorded = run_in_transaction(insert_user_and_token)
    except IntegrityError:
        _require_same_operation(user_id, operation_id)
        return issue_token(user_id, platform)
    token_records.prune_if_due(recorded)
    metrics.count_registrations()
    metrics.count_token(platform)
    return issued


def _insert(connection: Connection, profile: dict, operation_id: str, now: int) -> None:
    """INSERT the user, registered at `now` by the app's clock; IntegrityError when the userID exists.

    A token minted before `now` is never this user's (token_records.parse_token).
    """
    connection.execute(_insert_user, {**profile, "operation_id": operation_id, "created_at": utc_datetime(now)})


# What users created without an operationID (the import's rows) store: a
# request cannot send an empty operationID, so none is taken for their retry.
NO_OPERATION_ID = ""
# Imports before this rule stored "import", which a request can send.
NEVER_A_RETRY = {NO_OPERATION_ID, "import"}


def _require_same_operation(user_id: str, operation_id: str) -> None:
    """The userID exists: a retry of the request that created it, or AlreadyRegistered."""
    stored = _read_now(_select_operation_id, user_id)
    if stored is None or stored.operation_id in NEVER_A_RETRY or stored.operation_id != operation_id:
        raise AlreadyRegistered()


def find_users(user_ids: list[str]) -> list[User]:
    """The registered users among `user_ids`, in the order asked, each once."""
    unique_ids = list(dict.fromkeys(user_ids))
    if not unique_ids:
        return []
    found = {
        user.user_id: user for user in db.session.execute(select(User).where(User.user_id.in_(unique_ids))).scalars()
    }
    return [found[user_id] for user_id in unique_ids if user_id in found]


def registered_ids(user_ids: list[str]) -> list[tuple[str, bool]]:
    """Each of `user_ids` once, in the order asked, with whether it is registered."""
    unique_ids = list(dict.fromkeys(user_ids))
    if not unique_ids:
        return []
    registered = set(db.session.execute(select(User.user_id).where(User.user_id.in_(unique_ids))).scalars())
    return [(user_id, user_id in registered) for user_id in unique_ids]


def update_profile(user_id: str, changes: dict) -> None:
    """Change only the given fields of a registered user (UserNotFound otherwise)."""
    if not changes:
        get_user(user_id)
        return

    def apply() -> None:
        # rowcount is the rows matched, also on MySQL (SQLAlchemy sets FOUND_ROWS).
        result = db.session.execute(update(User).where(User.user_id == user_id).values(**changes))
        db.session.commit()
        if result.rowcount == 0:
            raise UserNotFound()

    retry_transient(apply)


def kick_user(user_id: str, platform: int | None = None) -> int:
    """Kick a registered user's tokens issued so far, on `platform` or on all; UserNotFound otherwise.

    Returns how many token records were kicked.
    """
    get_user(user_id)
    kicked = token_records.kick_tokens(user_id, platform)
    metrics.count_kick(platform)
    return kicked


def iter_user_id_batches(batch_size: int = 1000) -> Iterator[list[str]]:
    """Every userID in order, a batch at a time, so memory stays flat."""
    after = None
    while True:
        query = select(User.user_id).order_by(User.user_id).limit(batch_size)
        if after is not None:
            query = query.where(User.user_id > after)
        batch = list(db.session.execute(query).scalars())
        if not batch:
            return
        yield batch
        after = batch[-1]


def all_user_ids_if_at_most(limit: int) -> list[str] | None:
    """Every userID in order, or None when there are more than `limit` of them."""
    user_ids = list(db.session.execute(select(User.user_id).order_by(User.user_id).limit(limit + 1)).scalars())
    return user_ids if len(user_ids) <= limit else None


def user_id_page(page_number: int, show_number: int) -> list[str]:
    """Page `page_number` (from 1) of the userIDs in order, `show_number` a page."""
    query = select(User.user_id).order_by(User.user_id).limit(show_number).offset((page_number - 1) * show_number)
    return list(db.session.execute(query).scalars())


def delete_user(user_id: str) -> None:
    """Delete the user and the records of its tokens, which so stop being valid.

    The records go in batches first, so that other writers never wait long;
    then one short transaction deletes the user and the records issued
    meanwhile. It takes the user's row first, as record_token does: an issue
    racing it either commits before, and its record is deleted here, or finds
    no user.
    """
    if not is_registered(user_id):
        raise UserNotFound()
    token_records.delete_records_in_batches(user_id)

    def delete_user_and_last_records(connection: Connection) -> int:
        deleted = connection.execute(delete(_users).where(_users.c.user_id == user_id)).rowcount
        connection.execute(delete(_records).where(_records.c.user_id == user_id))
        return deleted

    if run_in_transaction(delete_user_and_last_records) == 0:
        raise UserNotFound()
