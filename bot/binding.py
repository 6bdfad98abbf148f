"""Binding a messenger account (Telegram, WeChat) to a wallet customer with a one-time code.

The customer gets a 6-digit code in the bank app (`walletbot bind-code CUSTOMER` plays the app here);
codes live 10 minutes, work once, and a messenger account gets 5 tries an hour. Wrong codes are
also limited across every chat (`failures_per_hour_max`, `WALLETBOT_BIND_FAILURES_PER_HOUR_MAX`): many
accounts guessing one code each cannot add up to a brute force; beyond the limit every attempt waits,
the right code too, so a pause never tells which guess was right. Only an HMAC of a code is stored.

Errors: `BindingError > {BindCodeInvalid, BindAttemptsExceeded}`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from bot.db import Base, UtcDateTime
from bot.wallet import models as _wallet_models  # noqa: F401  (the customers table the bindings refer to)

BIND_CODE_TTL_S = 600
BIND_ATTEMPTS_PER_HOUR_MAX = 5  # per messenger account
BIND_FAILURES_PER_HOUR_MAX = 50  # across every chat (the default of `Settings.bind_failures_per_hour_max`)
BIND_CODE_DIGITS = 6


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class BindingError(Exception):
    """Base of binding errors."""


class BindCodeInvalid(BindingError):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"invalid bind code, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class BindAttemptsExceeded(BindingError):
    """Too many attempts from this chat, or (`everyone`) too many wrong codes from all chats together."""

    def __init__(self, retry_after: datetime, *, everyone: bool = False) -> None:
        super().__init__(f"too many bind attempts{' from all chats' if everyone else ''}, retry after {retry_after:%H:%M}")
        self.retry_after = retry_after
        self.everyone = everyone


class BindCode(Base):
    __tablename__ = "bind_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ChannelBinding(Base):
    __tablename__ = "channel_bindings"
    __table_args__ = (UniqueConstraint("channel", "external_user_id", name="uq_channel_binding"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_user_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    bound_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BindAttempt(Base):
    __tablename__ = "bind_attempts"
    __table_args__ = (Index("ix_bind_attempts_user_at", "channel", "external_user_id", "at"),)  # rows live an hour

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_user_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime


def _hash(secret: str, code: str) -> str:
    return hmac.new(f"walletbot:bind:{secret}".encode(), code.encode(), hashlib.sha256).hexdigest()


class Binder:
    def __init__(
        self, session_factory: sessionmaker[Session], secret: str, *, failures_per_hour_max: int = BIND_FAILURES_PER_HOUR_MAX
    ) -> None:
        self._sessions = session_factory
        self._secret = secret
        self._failures_per_hour_max = failures_per_hour_max

    def issue_code(self, customer_id: str, *, now: datetime | None = None) -> IssuedCode:
        now = now or utcnow()
        code = "".join(secrets.choice("0123456789") for _ in range(BIND_CODE_DIGITS))
        expires_at = now + timedelta(seconds=BIND_CODE_TTL_S)
        with self._sessions() as session:
            session.execute(delete(BindCode).where(BindCode.customer_id == customer_id, BindCode.used_at.is_(None)))
            session.add(BindCode(code_hash=_hash(self._secret, code), customer_id=customer_id, created_at=now, expires_at=expires_at))
            session.commit()
        return IssuedCode(code=code, expires_at=expires_at)

    def redeem(self, channel: str, external_user_id: str, code: str, *, now: datetime | None = None) -> str:
        """Bind this messenger account with a code; returns the customer id."""
        now = now or utcnow()
        window_start = now - timedelta(hours=1)
        with self._sessions() as session:
            session.execute(delete(BindAttempt).where(BindAttempt.at < window_start))  # only the last hour counts
            failures, oldest = session.execute(select(func.count(), func.min(BindAttempt.at))).one()
            if failures >= self._failures_per_hour_max:
                session.commit()
                raise BindAttemptsExceeded(oldest + timedelta(hours=1), everyone=True)
            recent = session.scalars(
                select(BindAttempt.at)
                .where(BindAttempt.channel == channel, BindAttempt.external_user_id == external_user_id, BindAttempt.at >= window_start)
                .order_by(BindAttempt.at)
            ).all()
            if len(recent) >= BIND_ATTEMPTS_PER_HOUR_MAX:
                raise BindAttemptsExceeded(recent[0] + timedelta(hours=1))
            row = session.get(BindCode, _hash(self._secret, code.strip()))
            if row is None or row.used_at is not None or row.expires_at <= now:
                session.add(BindAttempt(channel=channel, external_user_id=external_user_id, at=now))
                session.commit()
                raise BindCodeInvalid(BIND_ATTEMPTS_PER_HOUR_MAX - len(recent) - 1)
            row.used_at = now
            binding = session.scalars(
                select(ChannelBinding).where(ChannelBinding.channel == channel, ChannelBinding.external_user_id == external_user_id)
            ).first()
            if binding is None:
                session.add(ChannelBinding(channel=channel, external_user_id=external_user_id, customer_id=row.customer_id, bound_at=now))
            else:
                binding.customer_id, binding.bound_at = row.customer_id, now
            session.commit()
            return row.customer_id

    def unbind(self, channel: str, external_user_id: str) -> bool:
        with self._sessions() as session:
            result = session.execute(
                delete(ChannelBinding).where(ChannelBinding.channel == channel, ChannelBinding.external_user_id == external_user_id)
            )
            session.commit()
            return result.rowcount > 0

    def customer_for(self, channel: str, external_user_id: str) -> str | None:
        with self._sessions() as session:
            return session.scalars(
                select(ChannelBinding.customer_id).where(
                    ChannelBinding.channel == channel, ChannelBinding.external_user_id == external_user_id
                )
            ).first()
