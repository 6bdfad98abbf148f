"""The messenger inbox: each inbound channel event (Telegram `update_id`, WeChat `MsgId`) handled once,
and none lost when the gateway dies while handling it.

Telegram is answered 200 as soon as an update is accepted and never sends it again; WeChat stops
retrying after 15 seconds. So an event is written here, sealed (`bot.sealing`), *before* it is
acknowledged, and marked done once its answer has gone out:

* `receive(channel, key, body)` — True for the process that is to handle the event now: its first
  arrival, or a repeat of one whose holder has died (a gateway since restarted, `owner` differs).
  False for a repeat that is done, or being handled by this process.
* `begin(channel, key, conversation_id)` — handling reaches a conversation: its last message id is
  noted. When a dead holder had begun already, nothing is noted and what that holder stored after its
  mark is returned (`Resumed`), so the new holder delivers it instead of running the turn a second time.
* `done(channel, key)` — answered: the sealed body is dropped.
* `orphans(channel)` — at startup: the events a dead holder left undone, taken over by this process.

`first_time(channel, key)` is the bare form (a WeChat signed URL's nonce): recorded as done at once.

One gateway process holds a database's inbox at a time (Telegram serves one webhook or one poller per
bot): `owner` is that process's boot id, and another id on an undone row means its holder is gone.
Rows older than a day may be pruned.
"""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Integer, String, Text, UniqueConstraint, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from bot.db import Base, UtcDateTime
from bot.sealing import seal, unseal

DEDUPE_RETENTION_S = 86_400
ORPHAN_AGE_MAX_S = 3_600  # older than this, an undone event is not worth answering any more


class InboundEvent(Base):
    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("channel", "event_key", name="uq_inbound_event"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    owner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    body_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    watermark: Mapped[int | None] = mapped_column(Integer, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


@dataclass(frozen=True)
class Orphan:
    key: str
    body: str


@dataclass(frozen=True)
class Resumed:
    """What a dead holder of an event had stored in its conversation after it began: message ids, in order."""

    message_ids: tuple[int, ...]
    watermark: int


class Inbox:
    def __init__(self, session_factory: sessionmaker[Session], secret: str = "", *, owner: str | None = None) -> None:
        self._sessions = session_factory
        self._secret = secret
        self.owner = owner or _secrets.token_hex(8)

    def first_time(self, channel: str, key: str) -> bool:
        now = datetime.now(timezone.utc)
        return self._insert(InboundEvent(channel=channel, event_key=str(key)[:128], seen_at=now, done_at=now))

    def receive(self, channel: str, key: str, body: str | None = None) -> bool:
        sealed = seal(self._secret, body) if body is not None and self._secret else None
        row = InboundEvent(channel=channel, event_key=str(key)[:128], seen_at=datetime.now(timezone.utc),
                           owner=self.owner, body_sealed=sealed)
        return self._insert(row) or self._take_over(channel, str(key)[:128])

    def begin(self, channel: str, key: str, conversation_id: str) -> Resumed | None:
        from bot.handoff.models import ChatMessage  # the inbox is below the chat store

        with self._sessions() as session:
            row = session.scalar(select(InboundEvent).where(InboundEvent.channel == channel, InboundEvent.event_key == str(key)[:128]))
            if row is None:
                return None
            if row.watermark is not None and row.conversation_id == conversation_id:
                ids = session.scalars(
                    select(ChatMessage.id).where(ChatMessage.conversation_id == conversation_id, ChatMessage.id > row.watermark)
                    .order_by(ChatMessage.id)
                ).all()
                if ids:
                    return Resumed(tuple(ids), row.watermark)
            row.conversation_id = conversation_id
            row.watermark = session.scalar(select(func.max(ChatMessage.id)).where(ChatMessage.conversation_id == conversation_id)) or 0
            session.commit()
            return None

    def done(self, channel: str, key: str) -> None:
        with self._sessions() as session:
            session.execute(
                update(InboundEvent).where(InboundEvent.channel == channel, InboundEvent.event_key == str(key)[:128])
                .values(done_at=datetime.now(timezone.utc), body_sealed=None)
            )
            session.commit()

    def orphans(self, channel: str, *, now: datetime | None = None) -> list[Orphan]:
        """Undone events of a dead holder, newest hour only, taken over by this process, oldest first."""
        since = (now or datetime.now(timezone.utc)) - timedelta(seconds=ORPHAN_AGE_MAX_S)
        with self._sessions() as session:
            rows = session.execute(
                select(InboundEvent.event_key, InboundEvent.body_sealed).where(
                    InboundEvent.channel == channel, InboundEvent.done_at.is_(None), InboundEvent.owner != self.owner,
                    InboundEvent.body_sealed.is_not(None), InboundEvent.seen_at >= since,
                ).order_by(InboundEvent.id)
            ).all()
        taken: list[Orphan] = []
        for key, sealed in rows:
            body = unseal(self._secret, sealed)
            if self._take_over(channel, key):
                if body is None:  # sealed under another secret: it cannot be read, so it is given up
                    self.done(channel, key)
                else:
                    taken.append(Orphan(key, body))
        return taken

    def prune(self, *, now: datetime | None = None) -> int:
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=DEDUPE_RETENTION_S)
        with self._sessions() as session:
            result = session.execute(delete(InboundEvent).where(InboundEvent.seen_at < cutoff))
            session.commit()
            return result.rowcount

    def _insert(self, row: InboundEvent) -> bool:
        with self._sessions() as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
            return True

    def _take_over(self, channel: str, key: str) -> bool:
        """Atomically become the holder of an undone event whose holder is another (dead) process."""
        with self._sessions() as session:
            result = session.execute(
                update(InboundEvent).where(
                    InboundEvent.channel == channel, InboundEvent.event_key == key, InboundEvent.done_at.is_(None),
                    InboundEvent.owner.is_not(None), InboundEvent.owner != self.owner,
                ).values(owner=self.owner)
            )
            session.commit()
            return result.rowcount == 1
