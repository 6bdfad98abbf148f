"""Messenger bindings (codes, bound accounts, attempts) and inbound event de-duplication.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bind_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "channel_bindings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_user_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(64), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("bound_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("channel", "external_user_id", name="uq_channel_binding"),
    )
    op.create_table(
        "bind_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_user_id", sa.String(128), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_bind_attempts_user_at", "bind_attempts", ["channel", "external_user_id", "at"])
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("event_key", sa.String(128), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("channel", "event_key", name="uq_inbound_event"),
    )


def downgrade() -> None:
    op.drop_table("inbound_events")
    op.drop_index("ix_bind_attempts_user_at", table_name="bind_attempts")
    op.drop_table("bind_attempts")
    op.drop_table("channel_bindings")
    op.drop_table("bind_codes")
