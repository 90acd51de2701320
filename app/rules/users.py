"""User rules with no HTTP in them: register, look up, update, kick, delete; which token each may get.

The views, the CLI and the tests all call these. Tokens are minted, recorded
and kicked through the token door (app/rules/tokens.py) alone.
"""

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from app import metrics
from app.errors import AlreadyRegistered, InvalidInput, NoPermission, ReservedForAdmin, UserNotFound
from app.extensions import db
from app.jwt_tokens import IssuedToken
from app.openim import ADMIN_PLATFORM, V3_PLATFORM_NAMES
from app.rules import access, clock, tokens
from app.storage import user_rows
from app.storage.database import retry_transient, run_in_transaction
from app.storage.models import User, utc_datetime

_users = User.__table__

is_registered = user_rows.is_registered


def find_user(user_id: str) -> User | None:
    return db.session.execute(select(User).where(User.user_id == user_id)).scalar_one_or_none()


def get_user(user_id: str) -> User:
    user = find_user(user_id)
    if user is None:
        raise UserNotFound()
    return user


def issue_token(user_id: str, platform: int) -> IssuedToken:
    """An OpenIM v2 token for a registered user (UserNotFound otherwise)."""
    return tokens.issue(user_id, platform)


def issue_admin_token(user_id: str) -> IssuedToken:
    """A platform-10 OpenIM v3 token for an admin, registered or not; InvalidInput for a userID not an admin."""
    if not access.is_v3_admin(user_id):
        raise InvalidInput("userID: not an admin (OPENIM_MANAGER_UIDS)", fields={"userID": ["Not an admin."]})
    return tokens.issue(user_id, ADMIN_PLATFORM, tokens.V3, tokens.Holder.ADMIN)


def issue_v3_user_token(user_id: str, platform: int) -> IssuedToken:
    """An OpenIM v3 token for an ordinary registered user, checked in docs/api-v3.md's order.

    Platform 10 → NoPermission, outside 1–11 → InvalidInput; an admin → NoPermission;
    unknown → UserNotFound; a notification or bot account → InvalidInput.
    """
    if platform == ADMIN_PLATFORM:
        raise NoPermission("platformID: 10 (Admin) is for admin tokens only")
    if platform not in V3_PLATFORM_NAMES:
        raise InvalidInput("platformID: not a platform", fields={"platformID": ["Must be from 1 to 11."]})
    if access.is_v3_admin(user_id):
        raise NoPermission("userID: an admin's token comes from get_admin_token")
    return tokens.issue(user_id, platform, tokens.V3, tokens.Holder.ORDINARY)


def refuse_admin_ids(user_ids: list[str]) -> None:
    """An admin's userID is registered by an operator only (docs/api-v2.md): ReservedForAdmin through the API."""
    if any(access.is_admin_id(user_id) for user_id in user_ids):
        raise ReservedForAdmin()


def register(profile: dict, operation_id: str, by_operator: bool = False) -> None:
    """Store a new user; the database's primary key decides who wins a race.

    A userID that exists answers AlreadyRegistered, except when the stored
    user was created with this same operationID: that is the caller retrying.
    An admin's userID only `by_operator` (the CLI).
    """
    if not by_operator:
        refuse_admin_ids([profile["user_id"]])
    tokens.wait_past_previous_owners([profile["user_id"]])
    try:
        now = clock.now()
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
    refuse_admin_ids([user_id])
    tokens.wait_past_previous_owners([user_id])

    def insert_user(connection: Connection, issued: IssuedToken) -> None:
        _insert(connection, profile, operation_id, issued.issued_at)

    try:
        issued = tokens.issue(user_id, platform, alongside=insert_user)
    except IntegrityError:
        _require_same_operation(user_id, operation_id)
        return issue_token(user_id, platform)
    metrics.count_registrations()
    return issued


def _insert(connection: Connection, profile: dict, operation_id: str, now: int) -> None:
    """INSERT the user, registered at `now` by the app's clock; IntegrityError when the userID exists.

    A token minted before `now` is never this user's (tokens.check).
    """
    user_rows.insert_user(connection, {**profile, "operation_id": operation_id, "created_at": utc_datetime(now)})


# What users created without an operationID (the import's rows) store: a
# request cannot send an empty operationID, so none is taken for their retry.
NO_OPERATION_ID = ""
# Imports before this rule stored "import", which a request can send.
NEVER_A_RETRY = {NO_OPERATION_ID, "import"}


def _require_same_operation(user_id: str, operation_id: str) -> None:
    """The userID exists: a retry of the request that created it, or AlreadyRegistered."""
    stored = user_rows.operation_id_of(user_id)
    if stored is None or stored in NEVER_A_RETRY or stored != operation_id:
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
    """Kick a user's tokens issued so far, on `platform` or on all; how many records were kicked.

    UserNotFound unless the user is registered or is an admin: an admin need
    not be registered, and every token can be revoked (docs/api-v2.md).
    """
    if not is_registered(user_id) and not access.is_admin_id(user_id):
        raise UserNotFound()
    return tokens.kick(user_id, platform)


def delete_user(user_id: str) -> None:
    """Delete the user and revoke its tokens (the token door deletes their records alongside).

    An admin that is not registered has only tokens: those are revoked, so
    that every token can be (docs/api-v2.md). UserNotFound for any other userID not
    registered.
    """
    admin_id = access.is_admin_id(user_id)
    if not admin_id and not is_registered(user_id):
        raise UserNotFound()

    def delete_row(connection: Connection) -> int:
        return connection.execute(delete(_users).where(_users.c.user_id == user_id)).rowcount

    if tokens.revoke_all(user_id, alongside=delete_row) == 0 and not admin_id:
        raise UserNotFound()
