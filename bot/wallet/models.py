"""The wallet's tables.

Money lives in `wallets.balance_fen` and in the append-only journal: one `transfers` row per movement
(its id is the caller's idempotency key) and one `postings` row per side, summing to 0 fen. A wallet's
balance equals the sum of its postings, and a CHECK forbids a negative balance everywhere except the
bank's settlement account (the mirror of the money that came in from bank cards).

System counterparties (settlement, merchants, fees) are rows of `wallets` with `kind` other than
"customer", so every posting names one wallet and every lock is a wallet row lock.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UtcDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer, "sqlite")

WALLET_KINDS = ("customer", "settlement", "merchant", "fee")
WALLET_STATUSES = ("active", "locked", "frozen")
TRANSFER_KINDS = ("transfer", "payment", "topup", "withdrawal", "refund", "fee")
DRAFT_STATUSES = ("draft", "confirmed", "executed", "cancelled", "expired")
OTP_STATUSES = ("active", "used", "superseded", "exhausted", "expired")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(64))
    masked_name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    id_number_hash: Mapped[str] = mapped_column(String(128))
    id_number_last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Wallet(Base):
    __tablename__ = "wallets"
    __table_args__ = (
        CheckConstraint("kind = 'settlement' OR balance_fen >= 0", name="balance_not_negative"),
        CheckConstraint(_in("kind", WALLET_KINDS), name="kind_known"),
        CheckConstraint(_in("status", WALLET_STATUSES), name="status_known"),
        CheckConstraint(
            "(kind = 'customer' AND customer_id IS NOT NULL) OR (kind <> 'customer' AND customer_id IS NULL)",
            name="customer_wallet_has_owner",
        ),
        CheckConstraint("pin_failures >= 0", name="pin_failures_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    wallet_no: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="customer")
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), unique=True, nullable=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    lock_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    pin_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pin_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class BankCard(Base):
    __tablename__ = "bank_cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    bank: Mapped[str] = mapped_column(String(32))
    last4: Mapped[str] = mapped_column(String(4))
    card_type: Mapped[str] = mapped_column(String(16), default="debit")
    bound_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SavedRecipient(Base):
    __tablename__ = "saved_recipients"
    __table_args__ = (UniqueConstraint("customer_id", "wallet_id", name="uq_saved_recipients_customer_wallet"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    alias: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Transfer(Base):
    """One movement of money, immutable once written. `id` is the caller's idempotency key."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("source_wallet_id <> target_wallet_id", name="distinct_wallets"),
        CheckConstraint(_in("kind", TRANSFER_KINDS), name="kind_known"),
        Index("ix_transfers_source_created", "source_wallet_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    target_wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    memo: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="posted")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Posting(Base):
    """One side of a transfer: `delta_fen` on one wallet, and that wallet's balance right after."""

    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("delta_fen <> 0", name="delta_not_zero"),
        UniqueConstraint("transfer_id", "wallet_id", name="uq_postings_transfer_wallet"),
        Index("ix_postings_wallet_created", "wallet_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfers.id"))
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    delta_fen: Mapped[int] = mapped_column(BigInteger)
    balance_after_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TransferDraft(Base):
    """A transfer the customer is being asked to confirm. Its id becomes the transfer's id."""

    __tablename__ = "transfer_drafts"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("fee_fen >= 0", name="fee_not_negative"),
        CheckConstraint(_in("status", DRAFT_STATUSES), name="status_known"),
        Index("ix_transfer_drafts_customer_created", "customer_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    source_wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    recipient_wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    needs_otp: Mapped[bool] = mapped_column(Boolean)
    new_recipient: Mapped[bool] = mapped_column(Boolean)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pin_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    otp_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    executed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    transfer_id: Mapped[str | None] = mapped_column(ForeignKey("transfers.id"), nullable=True)


class OtpChallenge(Base):
    """One SMS code: only its HMAC is kept. A newer code for the customer supersedes this one."""

    __tablename__ = "otp_challenges"
    __table_args__ = (
        CheckConstraint(_in("status", OTP_STATUSES), name="status_known"),
        CheckConstraint("attempts_used >= 0", name="attempts_not_negative"),
        Index("ix_otp_challenges_customer_status", "customer_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    draft_id: Mapped[str | None] = mapped_column(ForeignKey("transfer_drafts.id"), nullable=True)
    purpose: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="active")
    attempts_used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SmsOutboxMessage(Base):
    """What the built-in SMS sender "sent". The only place a plain code is stored (demo only)."""

    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target_at", "target", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
