"""Typed SQLAlchemy models.

User IDs are compared exactly on every backend: on MySQL/MariaDB the column
uses utf8mb4 with a binary collation, so `Bob`, `bob` and `BOB` are three users
(MySQL's default collations would fold them into one, as OpenIM does).
"""

import enum
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Enum, Index, LargeBinary, SmallInteger, String, literal_column
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

USER_ID_LENGTH = 64


def exact_string(length: int) -> String:
    """VARCHAR compared byte for byte: utf8mb4_bin on MySQL, SQLite's default BINARY."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def utc_datetime(seconds: int) -> datetime:
    """Unix seconds as the naive UTC datetime that created_at holds."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

    user_id: Mapped[str] = mapped_column(exact_string(USER_ID_LENGTH), primary_key=True)
    nickname: Mapped[str] = mapped_column(String(64))
    face_url: Mapped[str] = mapped_column(String(1024), default="")
    gender: Mapped[int] = mapped_column(SmallInteger, default=0)
    phone_number: Mapped[str] = mapped_column(String(32), default="")
    birth: Mapped[int] = mapped_column(BigInteger, default=0)
    email: Mapped[str] = mapped_column(String(64), default="")
    ex: Mapped[str] = mapped_column(String(1024), default="")
    # OpenIM v3's fields (docs/api-v3.md): 0 for users registered through v2.
    # app_manger_level is OpenIM's spelling; 3 and 4 mark notification and bot accounts.
    app_manger_level: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    global_recv_msg_opt: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # The operationID of the request that created the user: a second request
    # with the same one is a retry and succeeds again (docs/api-v2.md).
    operation_id: Mapped[str] = mapped_column(String(64))
    # Naive UTC, whole seconds of the app's clock (OPENIM_CLOCK): parse_token
    # compares it with the iat of the user's tokens.
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)

    def __repr__(self) -> str:
        return f"<User {self.user_id!r}>"


class TokenStatus(enum.Enum):
    normal = "normal"
    kicked = "kicked"
    # Recorded with OpenIM's Redis (OPENIM_REDIS_URL), and valid here: its field
    # may not be written yet. Normal once settled under the record's lock, which
    # only an issue that finds a kick or delete may have come first does
    # (app/rules/token_mirror.py): most stay pending.
    pending = "pending"


# The statuses of a token that is not kicked: what kicks, the bound and the live counts look for.
LIVE_STATUSES = (TokenStatus.normal, TokenStatus.pending)


def status_literal(status: TokenStatus):
    """The status as SQL text, for a statement run on the driver (app/storage/driver_statements.py)."""
    return literal_column(f"'{status.value}'")


LIVE_STATUS_LITERALS = tuple(status_literal(status) for status in LIVE_STATUSES)


class TokenRecord(db.Model):
    """An issued login token (docs/api-v2.md), by the token's SHA-256, never the token.

    Byte-identical tokens (same user, platform, second) share one record: a
    token issued again after a kick sets its record normal again. Indexes:
    the primary key for parse_token; (user, platform, status, expiry) for
    kicks, the per-platform bound and delete_user; the expiry for the prune.
    """

    __tablename__ = "token_records"
    __table_args__ = (
        Index("ix_token_records_user_platform_status_expiry", "user_id", "platform", "status", "expires_at"),
        Index("ix_token_records_expires_at", "expires_at"),
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"},
    )

    token_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32).with_variant(mysql.BINARY(32), "mysql", "mariadb"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(exact_string(USER_ID_LENGTH))
    platform: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[TokenStatus] = mapped_column(
        Enum(TokenStatus, name="token_status", native_enum=False, length=8), default=TokenStatus.normal
    )
    # Unix seconds, as in the token's iat and exp claims.
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        digest = self.token_hash.hex()[:12]
        return f"<TokenRecord {digest} {self.user_id!r} platform={self.platform} {self.status.value}>"
