"""`flask users export`: every user as JSON Lines that `flask users import` reads back exactly.

One object a line in the request field names, plus OpenIM v3's levels,
createTime (unix milliseconds, as OpenIM v3 writes it) and the operationID the
user was created with. Users are read a page at a time in userID order (keyset
paging), so memory stays flat however many there are; all the pages are read
in one transaction, so the file is one consistent snapshot.
"""

import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import BinaryIO

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Row

from app.admin.importer import UNIX_EPOCH
from app.extensions import db
from app.storage.models import User
from app.wire_format import go_json

EXPORT_PAGE_SIZE = 1000
MILLISECOND = timedelta(milliseconds=1)

_users = User.__table__
# Wire name -> column, in the order of the objects written.
WIRE_COLUMNS = {
    "userID": _users.c.user_id,
    "nickname": _users.c.nickname,
    "faceURL": _users.c.face_url,
    "gender": _users.c.gender,
    "phoneNumber": _users.c.phone_number,
    "birth": _users.c.birth,
    "email": _users.c.email,
    "ex": _users.c.ex,
    "appMangerLevel": _users.c.app_manger_level,
    "globalRecvMsgOpt": _users.c.global_recv_msg_opt,
    "createTime": _users.c.created_at,
    "operationID": _users.c.operation_id,
}
_first_page = select(*WIRE_COLUMNS.values()).order_by(_users.c.user_id).limit(bindparam("limit"))
_next_page = _first_page.where(_users.c.user_id > bindparam("after"))


def to_unix_milliseconds(created_at: datetime) -> int:
    """A naive UTC datetime as unix milliseconds (what is below a millisecond is dropped)."""
    return (created_at - UNIX_EPOCH) // MILLISECOND


def iter_pages(connection: Connection, page_size: int = EXPORT_PAGE_SIZE) -> Iterator[list[Row]]:
    """Every user, `page_size` at a time, in userID order."""
    page = connection.execute(_first_page, {"limit": page_size}).all()
    while page:
        yield page
        page = connection.execute(_next_page, {"limit": page_size, "after": page[-1].user_id}).all()


def user_line(row: Row) -> str:
    record = dict(zip(WIRE_COLUMNS, row, strict=True))
    record["createTime"] = to_unix_milliseconds(record["createTime"])
    return go_json.dumps(record) + "\n"


def export_users(target: BinaryIO, page_size: int = EXPORT_PAGE_SIZE) -> int:
    """Write every user to `target` as UTF-8 JSON Lines; returns how many."""
    written = 0
    with db.engine.connect() as connection:
        for page in iter_pages(connection, page_size):
            target.write("".join(map(user_line, page)).encode("utf-8"))
            written += len(page)
    return written


def export_users_to_file(path: str, page_size: int = EXPORT_PAGE_SIZE) -> int:
    """export_users into `path`, which appears only once the export is whole.

    The users go to a temporary file beside it, renamed over `path` at the
    end; a failed export leaves no half file for a backup to be mistaken for.
    """
    directory, name = os.path.split(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("wb", dir=directory, prefix=f".{name}.", delete=False) as target:
        try:
            count = export_users(target, page_size)
            target.flush()
            os.fsync(target.fileno())
        except BaseException:
            target.close()
            os.unlink(target.name)
            raise
    os.replace(target.name, path)
    return count
