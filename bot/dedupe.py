"""Processing each inbound channel event once (Telegram `update_id`, WeChat `MsgId`).

`Deduper.first_time(channel, key)` inserts the key under a unique constraint: the first caller gets
True, every repeat (a retry, a replay) gets False. Rows older than a day may be pruned.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import String, UniqueConstraint, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from bot.db import Base, UtcDateTime

DEDUPE_RETENTION_S = 86_400


class InboundEvent(Base):
    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("channel", "event_key", name="uq_inbound_event"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Deduper:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def first_time(self, channel: str, key: str) -> bool:
        with self._sessions() as session:
            session.add(InboundEvent(channel=channel, event_key=str(key)[:128], seen_at=datetime.now(timezone.utc)))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
            return True

    def prune(self, *, now: datetime | None = None) -> int:
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=DEDUPE_RETENTION_S)
        with self._sessions() as session:
            result = session.execute(delete(InboundEvent).where(InboundEvent.seen_at < cutoff))
            session.commit()
            return result.rowcount
