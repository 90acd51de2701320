"""Users a page at a time: v2's and v3's get_all_users_uid, v3's get_users, the CLI's list.

The routes are in docs/api-v2.md and docs/api-v3.md.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db
from app.storage.models import User

# appMangerLevel of ordinary users; 3 and 4 are notification and bot accounts.
ORDINARY_LEVELS = (0, 1)


@dataclass(frozen=True)
class Page:
    total: int
    items: list


def _offset(page_number: int, show_number: int) -> int:
    return (page_number - 1) * show_number


def ordinary_users_page(
    page_number: int, show_number: int, user_id: str | None = None, nickname_part: str | None = None
) -> Page:
    """Ordinary users, newest first; `user_id` keeps only that exact ID, `nickname_part` nicknames containing it.

    INSTR rather than LIKE: the same exact, case-sensitive match on SQLite and
    on MySQL's binary collation, and no wildcards to escape.
    """
    conditions = [User.app_manger_level.in_(ORDINARY_LEVELS)]
    if user_id is not None:
        conditions.append(User.user_id == user_id)
    if nickname_part:
        conditions.append(func.instr(User.nickname, nickname_part) > 0)
    total = db.session.execute(select(func.count()).select_from(User).where(*conditions)).scalar_one()
    users = db.session.execute(
        select(User)
        .where(*conditions)
        .order_by(User.created_at.desc(), User.user_id.desc())
        .limit(show_number)
        .offset(_offset(page_number, show_number))
    ).scalars()
    return Page(total, list(users))


def user_ids_page(page_number: int, show_number: int) -> list[str]:
    """Page `page_number` (from 1) of every userID in order, `show_number` a page."""
    query = select(User.user_id).order_by(User.user_id).limit(show_number).offset(_offset(page_number, show_number))
    return list(db.session.execute(query).scalars())


def counted_user_ids_page(page_number: int, show_number: int) -> Page:
    """user_ids_page, with how many users there are."""
    total = db.session.execute(select(func.count()).select_from(User)).scalar_one()
    return Page(total, user_ids_page(page_number, show_number))


def all_user_ids_if_at_most(limit: int) -> list[str] | None:
    """Every userID in order, or None when there are more than `limit` of them."""
    user_ids = list(db.session.execute(select(User.user_id).order_by(User.user_id).limit(limit + 1)).scalars())
    return user_ids if len(user_ids) <= limit else None


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
