"""Sending SMS. The sender is an interface; the built-in one writes to the `sms_outbox` table, which
`walletbot sms-outbox` prints (a real SMS gateway plugs in later behind the same `send`).

The outbox is the only place a plain one-time code is ever stored, and only because it is the demo's
stand-in for the customer's phone.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.wallet.models import SmsOutboxMessage, utcnow


class SmsSender(Protocol):
    def send(self, *, phone: str, text: str, purpose: str, customer_id: str | None = None) -> None: ...


class OutboxSmsSender:
    """Writes each message as a row of `sms_outbox`, in its own short transaction."""

    def __init__(self, session_factory: sessionmaker[Session] | None = None) -> None:
        if session_factory is None:
            from bot.db import get_session_factory

            session_factory = get_session_factory()
        self._session_factory = session_factory

    def send(self, *, phone: str, text: str, purpose: str, customer_id: str | None = None) -> None:
        with self._session_factory() as session:
            session.add(
                SmsOutboxMessage(customer_id=customer_id, phone=phone, purpose=purpose, text=text, created_at=utcnow())
            )
            session.commit()


class RecordingSmsSender:
    """Keeps messages in memory (tests, and tools that only want to look)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str | None]] = []

    def send(self, *, phone: str, text: str, purpose: str, customer_id: str | None = None) -> None:
        self.sent.append({"phone": phone, "text": text, "purpose": purpose, "customer_id": customer_id})
