"""The messenger inbox: an inbound Telegram update or WeChat message is kept (sealed) until it has been
answered, so one a killed gateway accepted is answered by the next (`bot.dedupe.Inbox`).

Rows written before this revision have no owner and count as done.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = ("owner", "body_sealed", "conversation_id", "watermark", "done_at")


def upgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch:
        batch.add_column(sa.Column("owner", sa.String(32), nullable=True))
        batch.add_column(sa.Column("body_sealed", sa.Text, nullable=True))
        batch.add_column(sa.Column("conversation_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("watermark", sa.Integer, nullable=True))
        batch.add_column(sa.Column("done_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
