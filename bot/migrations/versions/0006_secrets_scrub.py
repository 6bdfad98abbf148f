"""No secret in clear: tickets keep their callback number sealed; PINs already stored in transcripts are
scrubbed and personal numbers re-masked with the wider rule (spaced, dashed, +86 forms).

* `tickets.callback_sealed`: the number a customer left to be called back, Fernet-sealed with a key from
  WALLETBOT_SECRET (`bot.sealing`). Tickets filed before this revision had their number masked on the way
  in: it cannot be recovered, agents find it in the customer's record instead.
* customer messages whose text names a secret ("密码246810") or that hold one six-digit run within
  10 minutes of a PIN/SMS-code request (`bot.secret_text`) get those digits replaced by "******";
* customer messages, notes and ticket texts are masked again with `bot.masking` (idempotent).

Rasa's tracker store is not this database: `walletbot scrub-trackers` does the same there.
Downgrade drops the column; scrubbed digits stay scrubbed.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db import UtcDateTime
from bot.masking import mask_personal_numbers
from bot.secret_text import ConversationScrubber, scrub

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH_ROWS = 1000

chat_messages = sa.table(
    "chat_messages",
    sa.column("id", sa.Integer),
    sa.column("conversation_id", sa.String),
    sa.column("sender", sa.String),
    sa.column("text", sa.Text),
    sa.column("custom", sa.JSON),
    sa.column("created_at", UtcDateTime()),
)
handoff_notes = sa.table("handoff_notes", sa.column("id", sa.Integer), sa.column("text", sa.Text))
tickets = sa.table("tickets", sa.column("id", sa.Integer), sa.column("text", sa.Text))


def _scrubbed_messages(bind) -> list[tuple[int, str]]:
    """(id, new text) of the customer messages that change, walking each conversation in order."""
    changes: list[tuple[int, str]] = []
    scrubbers: dict[str, ConversationScrubber] = {}
    query = sa.select(chat_messages).order_by(chat_messages.c.conversation_id, chat_messages.c.id)
    for row in bind.execute(query.execution_options(yield_per=BATCH_ROWS)):
        scrubber = scrubbers.setdefault(row.conversation_id, ConversationScrubber())
        at = row.created_at.timestamp() if row.created_at else 0.0
        if row.sender == "bot" and isinstance(row.custom, dict) and row.custom.get("type") == "pin_request":
            scrubber.asked(at)
        if row.sender != "customer" or not row.text:
            continue
        text = mask_personal_numbers(scrub(row.text, scrubber.secrets(row.text, at)))
        if text != row.text:
            changes.append((row.id, text))
    return changes


def _remasked(bind, table) -> list[tuple[int, str]]:
    rows = bind.execute(sa.select(table.c.id, table.c.text)).all()
    return [(row.id, masked) for row in rows if row.text and (masked := mask_personal_numbers(row.text)) != row.text]


def _write(bind, table, changes: list[tuple[int, str]]) -> None:
    statement = sa.update(table).where(table.c.id == sa.bindparam("row_id")).values(text=sa.bindparam("new_text"))
    for start in range(0, len(changes), BATCH_ROWS):
        bind.execute(statement, [{"row_id": i, "new_text": t} for i, t in changes[start : start + BATCH_ROWS]])


def upgrade() -> None:
    op.add_column("tickets", sa.Column("callback_sealed", sa.Text, nullable=True))
    bind = op.get_bind()
    _write(bind, chat_messages, _scrubbed_messages(bind))
    _write(bind, handoff_notes, _remasked(bind, handoff_notes))
    _write(bind, tickets, _remasked(bind, tickets))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("callback_sealed")
