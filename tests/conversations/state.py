"""Read-only views of the stack's database, for the runner's state-based expectations.

Everything here only reads (the services' read-only units of work, or `read_only_session`), so the
runner never takes SQLite's write lock while the bot is answering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select

from bot.db import make_engine, make_session_factory, read_only_session
from bot.handoff import ChatStore, MessageView
from bot.handoff import queue as handoff_queue
from bot.handoff.models import ChatMessage, Conversation, Ticket
from bot.settings import Settings
from bot.wallet import SqlAlchemyUnitOfWork, get_balance
from bot.wallet.models import SmsOutboxMessage, Transfer, TransferDraft, Wallet
from bot.wallet.services import OPEN_DRAFT_STATUSES

OTP_IN_SMS = re.compile(r"(?<!\d)(\d{6})(?!\d)")
TICKET_LEFT = ("open", "closed")  # the customer wrote the message (offered / writing / declined: not yet, or never)


@dataclass(frozen=True)
class DraftRow:
    id: str
    status: str
    amount_fen: int
    recipient_wallet_id: int
    expires_at: datetime

    @property
    def open(self) -> bool:
        return self.status in OPEN_DRAFT_STATUSES and self.expires_at > datetime.now(timezone.utc)


@dataclass(frozen=True)
class Ledger:
    """Every wallet's balance (fen) and the number of transfers, at one moment."""

    balances: dict[int, int]
    transfers: int

    def moved_since(self, earlier: Ledger) -> bool:
        return self.transfers != earlier.transfers or self.balances != earlier.balances


class WorldState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine = make_engine(settings.database_url)
        self.sessions = make_session_factory(self._engine)
        self.store = ChatStore(self.sessions)
        self._wallets: dict[str, int] | None = None

    def close(self) -> None:
        self._engine.dispose()

    def _reader(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.sessions, settings=self.settings, read_only=True)

    # -- conversations

    def conversation_id(self, channel: str, external_id: str) -> str | None:
        with read_only_session(self.sessions) as session:
            return session.scalars(
                select(Conversation.id).where(Conversation.channel == channel, Conversation.external_id == external_id)
            ).first()

    def last_message_id(self) -> int:
        with read_only_session(self.sessions) as session:
            return int(session.scalar(select(func.max(ChatMessage.id))) or 0)

    def messages(self, conversation_id: str | None, after_id: int = 0) -> list[MessageView]:
        if conversation_id is None:
            return []
        found: list[MessageView] = []
        while page := self.store.messages_after(conversation_id, after_id):
            found += page
            after_id = page[-1].id
        return found

    def handoff_state(self, conversation_id: str | None) -> str:
        if conversation_id is None:
            return "bot"
        return handoff_queue.conversation_status(self._reader(), conversation_id).state

    def tickets_left(self, conversation_id: str | None) -> int:
        if conversation_id is None:
            return 0
        with read_only_session(self.sessions) as session:
            return int(session.scalar(
                select(func.count(Ticket.id)).where(Ticket.conversation_id == conversation_id, Ticket.status.in_(TICKET_LEFT))
            ) or 0)

    # -- the ledger

    def wallet_of(self, customer_id: str) -> int:
        if self._wallets is None:
            with read_only_session(self.sessions) as session:
                rows = session.execute(select(Wallet.customer_id, Wallet.id).where(Wallet.customer_id.is_not(None))).all()
            self._wallets = {customer: wallet_id for customer, wallet_id in rows}  # ids never change: the template keeps them
        return self._wallets[customer_id]

    def ledger(self) -> Ledger:
        with read_only_session(self.sessions) as session:
            balances = dict(session.execute(select(Wallet.id, Wallet.balance_fen)).all())
            transfers = int(session.scalar(select(func.count(Transfer.id))) or 0)
        return Ledger({int(k): int(v) for k, v in balances.items()}, transfers)

    def drafts(self, customer_id: str | None) -> dict[str, DraftRow]:
        if customer_id is None:
            return {}
        with read_only_session(self.sessions) as session:
            rows = session.scalars(select(TransferDraft).where(TransferDraft.customer_id == customer_id)).all()
            return {row.id: DraftRow(row.id, row.status, row.amount_fen, row.recipient_wallet_id, row.expires_at) for row in rows}

    def wallet_status(self, customer_id: str) -> str:
        return get_balance(self._reader(), customer_id).status

    def latest_otp(self, customer_id: str) -> str | None:
        """The code in the newest SMS sent to this customer (the demo's stand-in for their phone)."""
        with read_only_session(self.sessions) as session:
            text = session.scalars(
                select(SmsOutboxMessage.text).where(SmsOutboxMessage.customer_id == customer_id).order_by(SmsOutboxMessage.id.desc()).limit(1)
            ).first()
        match = OTP_IN_SMS.search(text or "")
        return match[1] if match else None
