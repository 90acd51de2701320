"""A user's row: the registration's INSERT, and reads that must see every commit made before them.

The reads run on a connection of their own (or the caller's, inside its
transaction), not in the Session's transaction, whose snapshot (MySQL's
REPEATABLE READ) may predate a user just registered through a Core transaction.
"""

from sqlalchemy import Row, Select, bindparam, insert, select
from sqlalchemy.engine import Connection

from app.extensions import db
from app.storage.driver_statements import DriverStatement
from app.storage.models import User

_users = User.__table__
# On the driver: every registration makes it. Every column is bound; a column
# the row leaves out takes its default here, as Core's insert would give it.
_insert_user = DriverStatement(
    insert(_users).values({column.name: bindparam(column.name, type_=column.type) for column in _users.columns})
)
_DEFAULTS = {
    column.name: column.default.arg if column.default is not None and column.default.is_scalar else None
    for column in _users.columns
}
_select_user_id = select(_users.c.user_id).where(_users.c.user_id == bindparam("user_id"))
_select_operation_id = select(_users.c.operation_id).where(_users.c.user_id == bindparam("user_id"))


def _read_now(statement: Select, user_id: str) -> Row | None:
    with db.engine.connect() as connection:
        return connection.execute(statement, {"user_id": user_id}).first()


def insert_user(connection: Connection, row: dict) -> None:
    """INSERT a user's row, in the connection's transaction; IntegrityError when its userID exists.

    `row` names columns; it must give created_at (its default is the clock's, not a constant).
    """
    _insert_user.rowcount(connection, {**_DEFAULTS, **row})


def is_registered(user_id: str) -> bool:
    return _read_now(_select_user_id, user_id) is not None


def exists(connection: Connection, user_id: str) -> bool:
    """Whether the user's row exists, read in the connection's transaction."""
    return connection.execute(_select_user_id, {"user_id": user_id}).first() is not None


def operation_id_of(user_id: str) -> str | None:
    """The operationID the user was created with; None when the user is not registered."""
    row = _read_now(_select_operation_id, user_id)
    return None if row is None else row.operation_id
