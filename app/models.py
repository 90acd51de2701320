"""Typed SQLAlchemy models.

User IDs are compared exactly on every backend: on MySQL/MariaDB the column
uses utf8mb4 with a binary collation, so `Bob`, `bob` and `BOB` are three users
(MySQL's default collations would fold them into one, as OpenIM does).
"""
import enum
from datetime import datetime, timezone

from sqlalchemy import BigInteger, DateTime, Enum, Index, Integer, LargeBinary, SmallInteger, String
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
    return datetime.now(timezone.utc).replace(tzinfo=None)


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
    # OpenIM v3's fields (SPEC §12): 0 for users registered through v2.
    # app_manger_level is OpenIM's spelling; 3 and 4 mark notification and bot accounts.
    app_manger_level: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    global_recv_msg_opt: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # The operationID of the request that created the user: a second request
    # with the same one is a retry and succeeds again (SPEC §2).
    operation_id: Mapped[str] = mapped_column(String(64))
    # Naive UTC.
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)

    def __repr__(self) -> str:
        return f"<User {self.user_id!r}>"


class TokenStatus(enum.Enum):
    normal = "normal"
    kicked = "kicked"


class TokenRecord(db.Model):
    """One issue of a login token (SPEC §9), by the token's SHA-256, never the token.

    Every issue gets its own row, so a token re-issued in the same second
    (byte-identical to an earlier, kicked one) is a new, normal record: a token
    is valid while any of its records is normal, and a kick marks only the
    records that exist when it runs.
    """

    __tablename__ = "token_records"
    __table_args__ = (
        Index("ix_token_records_token_hash", "token_hash"),
        Index("ix_token_records_user_id_platform", "user_id", "platform"),
        Index("ix_token_records_expires_at", "expires_at"),
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"},
    )

    # SQLite makes only an INTEGER PRIMARY KEY auto-increment.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32).with_variant(mysql.BINARY(32), "mysql", "mariadb")
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
        return f"<TokenRecord {self.id} {self.user_id!r} platform={self.platform} {self.status.value}>"
