"""token_records keyed by the token's hash: one record per distinct token, fewer indexes

Byte-identical tokens (same user, platform, second) now share one record, so
the SHA-256 is the primary key: no auto-increment key, and the separate hash
index goes. (user_id, platform, status, expires_at) serves kicks, the
per-platform bound on live records and delete_user; expires_at the prune.

The table is rebuilt, records kept: of several records of one hash, the
normal one if any (a token re-issued after a kick is valid), else kicked.

parse_token now refuses a token minted before its user's created_at (to the
second). Users registered until now got created_at from the wall clock a
moment after their first token was minted, and MySQL rounds it to the nearest
second: up to a second late. Their created_at moves a second earlier, so that
no token of theirs is refused for it.

Revision ID: 0004_bounded_token_records
Revises: 0003_v3_user_fields
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004_bounded_token_records"
down_revision = "0003_v3_user_fields"
branch_labels = None
depends_on = None

COLUMNS = "token_hash, user_id, platform, status, issued_at, expires_at"


def exact_string(length):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def columns(with_id: bool):
    key = [sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False)]
    return [
        *(key if with_id else []),
        sa.Column(
            "token_hash",
            sa.LargeBinary(32).with_variant(mysql.BINARY(32), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("user_id", exact_string(64), nullable=False),
        sa.Column("platform", sa.SmallInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("normal", "kicked", name="token_status", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id" if with_id else "token_hash"),
    ]


def rebuild(with_id: bool, copy_rows: str) -> None:
    """Build the new shape as token_records_new, copy, then swap it in; indexes after the swap."""
    op.create_table("token_records_new", *columns(with_id), mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")
    op.execute(copy_rows)
    op.drop_table("token_records")
    op.rename_table("token_records_new", "token_records")


def upgrade():
    # MAX(status): 'normal' sorts after 'kicked'. The other columns follow from the hash.
    rebuild(
        with_id=False,
        copy_rows=f"INSERT INTO token_records_new ({COLUMNS})"
        " SELECT token_hash, MIN(user_id), MIN(platform), MAX(status), MIN(issued_at), MAX(expires_at)"
        " FROM token_records GROUP BY token_hash",
    )
    op.create_index(
        "ix_token_records_user_platform_status_expiry", "token_records", ["user_id", "platform", "status", "expires_at"]
    )
    op.create_index("ix_token_records_expires_at", "token_records", ["expires_at"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE users SET created_at = datetime(created_at, '-1 second')")
    else:
        op.execute("UPDATE users SET created_at = created_at - INTERVAL 1 SECOND")


def downgrade():
    rebuild(with_id=True, copy_rows=f"INSERT INTO token_records_new ({COLUMNS}) SELECT {COLUMNS} FROM token_records")
    op.create_index("ix_token_records_token_hash", "token_records", ["token_hash"])
    op.create_index("ix_token_records_user_id_platform", "token_records", ["user_id", "platform"])
    op.create_index("ix_token_records_expires_at", "token_records", ["expires_at"])
