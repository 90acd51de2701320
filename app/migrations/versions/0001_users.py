"""users table

On MySQL/MariaDB the table is utf8mb4 with a binary collation, so that user
IDs compare exactly (no case folding) and 4-byte UTF-8 round-trips.

Revision ID: 0001_users
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001_users"
down_revision = None
branch_labels = None
depends_on = None


def exact_string(length):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade():
    op.create_table(
        "users",
        sa.Column("user_id", exact_string(64), nullable=False),
        sa.Column("nickname", sa.String(64), nullable=False),
        sa.Column("face_url", sa.String(1024), nullable=False),
        sa.Column("gender", sa.SmallInteger(), nullable=False),
        sa.Column("phone_number", sa.String(32), nullable=False),
        sa.Column("birth", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(64), nullable=False),
        sa.Column("ex", sa.String(1024), nullable=False),
        sa.Column("operation_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade():
    op.drop_table("users")
