"""Human handoff: agents, their sessions, the queue, private notes and leave-a-message tickets.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.Column("last_seen_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("username", name="uq_agents_username"),
    )
    op.create_table(
        "agent_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_agent_sessions_agent_id", "agent_sessions", ["agent_id"])
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("enqueued_at", UtcDateTime(), nullable=False),
        sa.Column("assigned_at", UtcDateTime(), nullable=True),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.Column("notified_position", sa.Integer, nullable=True),
        sa.Column("rating", sa.Integer, nullable=True),
        sa.Column("rated_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_handoffs_status_priority_enqueued", "handoffs", ["status", "priority", "enqueued_at"])
    op.create_index("ix_handoffs_conversation_id_id", "handoffs", ["conversation_id", "id"])
    op.create_index("ix_handoffs_agent_id", "handoffs", ["agent_id"])
    op.create_table(
        "handoff_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_handoff_notes_conversation_id", "handoff_notes", ["conversation_id"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("contact_after", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.Column("closed_by", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
    )
    op.create_index("ix_tickets_conversation_id_status", "tickets", ["conversation_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_tickets_conversation_id_status", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_handoff_notes_conversation_id", table_name="handoff_notes")
    op.drop_table("handoff_notes")
    op.drop_index("ix_handoffs_agent_id", table_name="handoffs")
    op.drop_index("ix_handoffs_conversation_id_id", table_name="handoffs")
    op.drop_index("ix_handoffs_status_priority_enqueued", table_name="handoffs")
    op.drop_table("handoffs")
    op.drop_index("ix_agent_sessions_agent_id", table_name="agent_sessions")
    op.drop_table("agent_sessions")
    op.drop_table("agents")
