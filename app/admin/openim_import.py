"""`flask users import-openim URL`: the `users` table of an OpenIM v2 MySQL database.

Each OpenIM row becomes the row `flask users import` would read (same schema,
batches and summary, through importer.import_rows), read a page at a time in
user_id order (keyset paging), so memory stays flat and no query runs for long.

OpenIM's gorm model stores birth and create_time as DATETIME written in its
server's local time (its DSN says loc=Local); `zone` names that time zone.
Dates are read as text, because MySQL's zero date ('0000-00-00 00:00:00',
which OpenIM's non-strict servers hold) is no Python datetime.

The URL is typed by a person: whatever is wrong with it (a driver that is not
installed, an option the driver refuses, a file that is no database) ends the
command with one line naming it, the password hidden (SourceUnreadable).
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CHAR,
    URL,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    cast,
    create_engine,
    func,
    make_url,
    select,
)
from sqlalchemy.exc import ArgumentError, DBAPIError

from app.admin.exporter import to_unix_milliseconds
from app.admin.importer import Row
from app.storage.database import engine_options

OPENIM_PAGE_SIZE = 1000
APP_MANAGER_LEVEL = 2
NICKNAME_LENGTH = 64  # ProfileSchema's limit; OpenIM allows 255
# Stored as the imported users' operationID: a request's operationID has 1 to
# 64 characters, so no client's register is ever taken for a retry of this import.
OPENIM_OPERATION_ID = ""

openim_users = Table(
    "users",
    MetaData(),
    Column("user_id", String(64), primary_key=True),
    Column("name", String(255)),
    Column("face_url", String(255)),
    Column("gender", Integer),
    Column("phone_number", String(32)),
    Column("birth", String(32)),  # DATETIME, read as text
    Column("email", String(64)),
    Column("ex", String(1024)),
    Column("create_time", String(32)),  # DATETIME, read as text
    Column("app_manger_level", Integer),
    Column("global_recv_msg_opt", Integer),
)
_c = openim_users.c
_page = (
    select(
        _c.user_id,
        _c.name,
        _c.face_url,
        _c.gender,
        _c.phone_number,
        cast(_c.birth, CHAR).label("birth"),
        _c.email,
        _c.ex,
        cast(_c.create_time, CHAR).label("create_time"),
        _c.app_manger_level,
        _c.global_recv_msg_opt,
    )
    .order_by(_c.user_id)
    .limit(bindparam("limit"))
)
_next_page = _page.where(_c.user_id > bindparam("after"))


# What opening and reading a database can raise for a URL: one SQLAlchemy
# cannot parse or a dialect it does not know (ArgumentError; ValueError for a
# port), a driver not installed (ImportError), options of the wrong type (the
# driver checks few: ValueError, TypeError, AttributeError, LookupError for
# `?ssl=true`, `?conv=1`), a file it cannot open (OSError: an SSL CA), and
# whatever the server or the file answers (DBAPIError).
UNREADABLE = (ArgumentError, ImportError, ValueError, TypeError, AttributeError, LookupError, OSError, DBAPIError)
# The password of a URL that does not parse: between the user's colon and the host's @.
_RAW_PASSWORD = re.compile(r"^[^:/?#]*://[^:/?#@]*:(.+)@")


class SourceUnreadable(Exception):
    """The OpenIM database cannot be opened or read: why, in one line, without the password."""


def describe(error: Exception, url: URL | None, typed: str) -> str:
    if isinstance(error, ImportError):
        reason = f"its driver is not installed ({error})"
    elif isinstance(error, DBAPIError):
        reason = str(error.orig)
    elif url is None:
        reason = f"not a database URL such as mysql+pymysql://user:password@host/openim_v2 ({error})"
    else:
        reason = str(error)
    where = "" if url is None else f" {url.render_as_string(hide_password=True)}"
    password = url.password if url is not None else (match := _RAW_PASSWORD.match(typed)) and match[1]
    line = f"cannot read the OpenIM database{where}: {reason}"
    if password:
        for form in {password, quote(password, safe=""), quote(password)}:
            line = line.replace(form, "***")
    return " ".join(line.split())


def parse_datetime(text: str | None, zone: ZoneInfo) -> datetime | None:
    """A DATETIME's text as naive UTC; None for NULL and the zero date. ValueError when not a date."""
    if text is None or text.startswith("0000-00-00"):
        return None
    local = datetime.fromisoformat(text).replace(tzinfo=zone)
    return local.astimezone(UTC).replace(tzinfo=None)


class OpenImUsers:
    """The users of one OpenIM database, as rows for importer.import_rows."""

    def __init__(self, url: str, zone: ZoneInfo, truncate_nicknames: bool = False, page_size: int = OPENIM_PAGE_SIZE):
        self.typed_url = url
        self.url = None
        with self.reading():
            self.url = make_url(url)
            self.engine = create_engine(self.url, **engine_options(url))
        self.zone = zone
        self.truncate_nicknames = truncate_nicknames
        self.page_size = page_size
        self.read = 0  # rows read so far
        self.managers: list[str] = []  # userIDs of OpenIM's app managers, in order

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.engine.dispose()

    @contextmanager
    def reading(self):
        """Any failure to open or read the database as SourceUnreadable."""
        try:
            yield
        except UNREADABLE as error:
            raise SourceUnreadable(describe(error, self.url, self.typed_url)) from None

    def count(self) -> int:
        with self.reading(), self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(openim_users)).scalar_one()

    def rows(self) -> Iterator[tuple[str, Row]]:
        """(userID, the row `users import` would read, or why it cannot be imported) per user."""
        with self.reading():
            connection = self.engine.connect()
        with connection:
            page = self.page(connection, _page, {})
            while page:
                for record in page:
                    self.read += 1
                    if record.app_manger_level == APP_MANAGER_LEVEL:
                        self.managers.append(record.user_id)
                    yield record.user_id, self.import_row(record)
                page = self.page(connection, _next_page, {"after": page[-1].user_id})

    def page(self, connection, statement, parameters: dict) -> list:
        with self.reading():
            return connection.execute(statement, {"limit": self.page_size, **parameters}).all()

    def import_row(self, record) -> Row:
        try:
            birth = parse_datetime(record.birth, self.zone)
            created_at = parse_datetime(record.create_time, self.zone)
        except ValueError as exc:
            return f"not a date: {exc}"
        nickname = record.name
        if self.truncate_nicknames and nickname is not None:
            nickname = nickname[:NICKNAME_LENGTH]
        row = {
            "userID": record.user_id,
            "nickname": nickname,
            "faceURL": record.face_url,
            "gender": record.gender,
            "phoneNumber": record.phone_number,
            # Whole seconds, as OpenIM answers birth.
            "birth": 0 if birth is None else to_unix_milliseconds(birth) // 1000,
            "email": record.email,
            "ex": record.ex,
            "appMangerLevel": record.app_manger_level,
            "globalRecvMsgOpt": record.global_recv_msg_opt,
            "operationID": OPENIM_OPERATION_ID,
        }
        if created_at is not None:  # else created_at is the time of the import
            row["createTime"] = to_unix_milliseconds(created_at)
        return row
