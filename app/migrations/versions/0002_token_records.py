"""token_records table

One row per issued token, by the token's SHA-256 (never the token itself), so
that every instance sees which tokens are live or kicked (docs/api-v2.md). On
MySQL/MariaDB the user_id column is utf8mb4 with a binary collation, as in
users, so that user IDs compare exactly.

Revision ID: 0002_token_records
Revises: 0001_users
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002_token_records"
down_revision = "0001_users"
branch_labels = None
depends_on = None


def exact_string(length):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade():
    op.create_table(
        "token_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
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
        sa.PrimaryKeyConstraint("id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_token_records_token_hash", "token_records", ["token_hash"])
    op.create_index("ix_token_records_user_id_platform", "token_records", ["user_id", "platform"])
    op.create_index("ix_token_records_expires_at", "token_records", ["expires_at"])


def downgrade():
    op.drop_table("token_records")
