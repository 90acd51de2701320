"""User rules with no HTTP in them: register, look up, create, list, delete.

The views, the CLI and the tests all call these.
"""
from collections.abc import Iterator

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.database import retry_transient
from app.errors import AlreadyRegistered, UserNotFound
from app.extensions import db
from app.models import User


def find_user(user_id: str) -> User | None:
    return db.session.execute(select(User).where(User.user_id == user_id)).scalar_one_or_none()


def get_user(user_id: str) -> User:
    user = find_user(user_id)
    if user is None:
        raise UserNotFound()
    return user


def register(profile: dict, operation_id: str) -> User:
    """Store a new user; the database's primary key decides who wins a race.

    A userID that exists answers AlreadyRegistered, except when the stored
    user was created with this same operationID: that is the caller retrying.
    """

    def insert() -> User:
        user = User(**profile, operation_id=operation_id)
        db.session.add(user)
        try:
            db.session.commit()
            return user
        except IntegrityError:
            db.session.rollback()
        existing = find_user(profile["user_id"])
        if existing is not None and existing.operation_id == operation_id:
            return existing
        raise AlreadyRegistered()

    return retry_transient(insert)


def list_users(after: str | None = None, limit: int = 1000) -> list[User]:
    query = select(User).order_by(User.user_id).limit(limit)
    if after is not None:
        query = query.where(User.user_id > after)
    return list(db.session.execute(query).scalars())


def iter_users(batch_size: int = 1000) -> Iterator[User]:
    """Every user in userID order, a batch at a time, so memory stays flat."""
    after = None
    while batch := list_users(after, batch_size):
        yield from batch
        after = batch[-1].user_id
        db.session.expunge_all()


def delete_user(user_id: str) -> None:
    result = db.session.execute(delete(User).where(User.user_id == user_id))
    db.session.commit()
    if result.rowcount == 0:
        raise UserNotFound()
