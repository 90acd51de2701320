"""users gain OpenIM v3's appMangerLevel and globalRecvMsgOpt

OpenIM v3 stores both on every user: appMangerLevel (0 ordinary, 1 ordinary,
2 app manager, 3 notification account, 4 bot) and globalRecvMsgOpt (0 receive,
1 do not receive, 2 receive without notification). Users registered before
this revision, or through OpenIM v2's API, hold 0 in both, as OpenIM v3 does.

Revision ID: 0003_v3_user_fields
Revises: 0002_token_records
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_v3_user_fields"
down_revision = "0002_token_records"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("app_manger_level", sa.SmallInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("global_recv_msg_opt", sa.SmallInteger(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("global_recv_msg_opt")
        batch.drop_column("app_manger_level")
