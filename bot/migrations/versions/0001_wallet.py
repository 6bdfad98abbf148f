"""wallet ledger: customers, wallets, cards, recipients, journal, drafts, OTP, SMS outbox, audit log

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("masked_name", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("id_number_hash", sa.String(128), nullable=False),
        sa.Column("id_number_last4", sa.String(4), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("phone", name="uq_customers_phone"),
    )
    op.create_table(
        "wallets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("wallet_no", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lock_reason", sa.String(32), nullable=True),
        sa.Column("locked_until", Timestamp, nullable=True),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("pin_hash", sa.String(255), nullable=True),
        sa.Column("pin_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint("kind = 'settlement' OR balance_fen >= 0", name="ck_wallets_balance_not_negative"),
        sa.CheckConstraint(
            "kind IN ('customer', 'settlement', 'merchant', 'fee')", name="ck_wallets_kind_known"
        ),
        sa.CheckConstraint("status IN ('active', 'locked', 'frozen')", name="ck_wallets_status_known"),
        sa.CheckConstraint(
            "(kind = 'customer' AND customer_id IS NOT NULL) OR (kind <> 'customer' AND customer_id IS NULL)",
            name="ck_wallets_customer_wallet_has_owner",
        ),
        sa.CheckConstraint("pin_failures >= 0", name="ck_wallets_pin_failures_not_negative"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_wallets_customer_id_customers"),
        sa.PrimaryKeyConstraint("id", name="pk_wallets"),
        sa.UniqueConstraint("wallet_no", name="uq_wallets_wallet_no"),
        sa.UniqueConstraint("customer_id", name="uq_wallets_customer_id"),
    )
    op.create_table(
        "bank_cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("bank", sa.String(32), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("card_type", sa.String(16), nullable=False),
        sa.Column("bound_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_bank_cards_customer_id_customers"),
        sa.PrimaryKeyConstraint("id", name="pk_bank_cards"),
    )
    op.create_index("ix_bank_cards_customer_id", "bank_cards", ["customer_id"])
    op.create_table(
        "saved_recipients",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("wallet_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(32), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_saved_recipients_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"], name="fk_saved_recipients_wallet_id_wallets"),
        sa.PrimaryKeyConstraint("id", name="pk_saved_recipients"),
        sa.UniqueConstraint("customer_id", "wallet_id", name="uq_saved_recipients_customer_wallet"),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("source_wallet_id", sa.Integer(), nullable=False),
        sa.Column("target_wallet_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("memo", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint("amount_fen > 0", name="ck_transfers_amount_positive"),
        sa.CheckConstraint("source_wallet_id <> target_wallet_id", name="ck_transfers_distinct_wallets"),
        sa.CheckConstraint(
            "kind IN ('transfer', 'payment', 'topup', 'withdrawal', 'refund', 'fee')", name="ck_transfers_kind_known"
        ),
        sa.ForeignKeyConstraint(
            ["source_wallet_id"], ["wallets.id"], name="fk_transfers_source_wallet_id_wallets"
        ),
        sa.ForeignKeyConstraint(
            ["target_wallet_id"], ["wallets.id"], name="fk_transfers_target_wallet_id_wallets"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_transfers"),
    )
    op.create_index("ix_transfers_source_created", "transfers", ["source_wallet_id", "created_at"])
    op.create_table(
        "postings",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("transfer_id", sa.String(64), nullable=False),
        sa.Column("wallet_id", sa.Integer(), nullable=False),
        sa.Column("delta_fen", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint("delta_fen <> 0", name="ck_postings_delta_not_zero"),
        sa.ForeignKeyConstraint(["transfer_id"], ["transfers.id"], name="fk_postings_transfer_id_transfers"),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"], name="fk_postings_wallet_id_wallets"),
        sa.PrimaryKeyConstraint("id", name="pk_postings"),
        sa.UniqueConstraint("transfer_id", "wallet_id", name="uq_postings_transfer_wallet"),
    )
    op.create_index("ix_postings_wallet_created", "postings", ["wallet_id", "created_at"])
    op.create_table(
        "transfer_drafts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("source_wallet_id", sa.Integer(), nullable=False),
        sa.Column("recipient_wallet_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("needs_otp", sa.Boolean(), nullable=False),
        sa.Column("new_recipient", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("pin_verified_at", Timestamp, nullable=True),
        sa.Column("otp_verified_at", Timestamp, nullable=True),
        sa.Column("executed_at", Timestamp, nullable=True),
        sa.Column("transfer_id", sa.String(64), nullable=True),
        sa.CheckConstraint("amount_fen > 0", name="ck_transfer_drafts_amount_positive"),
        sa.CheckConstraint("fee_fen >= 0", name="ck_transfer_drafts_fee_not_negative"),
        sa.CheckConstraint(
            "status IN ('draft', 'confirmed', 'executed', 'cancelled', 'expired')",
            name="ck_transfer_drafts_status_known",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_transfer_drafts_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(
            ["source_wallet_id"], ["wallets.id"], name="fk_transfer_drafts_source_wallet_id_wallets"
        ),
        sa.ForeignKeyConstraint(
            ["recipient_wallet_id"], ["wallets.id"], name="fk_transfer_drafts_recipient_wallet_id_wallets"
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name="fk_transfer_drafts_transfer_id_transfers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_transfer_drafts"),
    )
    op.create_index("ix_transfer_drafts_customer_created", "transfer_drafts", ["customer_id", "created_at"])
    op.create_table(
        "otp_challenges",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("draft_id", sa.String(40), nullable=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("code_hash", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts_used", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'used', 'superseded', 'exhausted', 'expired')", name="ck_otp_challenges_status_known"
        ),
        sa.CheckConstraint("attempts_used >= 0", name="ck_otp_challenges_attempts_not_negative"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_otp_challenges_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["transfer_drafts.id"], name="fk_otp_challenges_draft_id_transfer_drafts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_otp_challenges"),
    )
    op.create_index("ix_otp_challenges_customer_status", "otp_challenges", ["customer_id", "status"])
    op.create_table(
        "sms_outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_outbox"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_target_at", "audit_log", ["target", "at"])

    # The bank's own ledger accounts, present in every database.
    wallets = sa.table(
        "wallets",
        sa.column("wallet_no", sa.String),
        sa.column("kind", sa.String),
        sa.column("name", sa.String),
        sa.column("status", sa.String),
        sa.column("balance_fen", sa.BigInteger),
        sa.column("pin_failures", sa.Integer),
        sa.column("created_at", Timestamp),
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(
        wallets,
        [
            {"wallet_no": "SYS-SETTLEMENT", "kind": "settlement", "name": "银行卡", "status": "active",
             "balance_fen": 0, "pin_failures": 0, "created_at": now},
            {"wallet_no": "SYS-FEE", "kind": "fee", "name": "手续费", "status": "active",
             "balance_fen": 0, "pin_failures": 0, "created_at": now},
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_audit_log_target_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("sms_outbox")
    op.drop_index("ix_otp_challenges_customer_status", table_name="otp_challenges")
    op.drop_table("otp_challenges")
    op.drop_index("ix_transfer_drafts_customer_created", table_name="transfer_drafts")
    op.drop_table("transfer_drafts")
    op.drop_index("ix_postings_wallet_created", table_name="postings")
    op.drop_table("postings")
    op.drop_index("ix_transfers_source_created", table_name="transfers")
    op.drop_table("transfers")
    op.drop_table("saved_recipients")
    op.drop_index("ix_bank_cards_customer_id", table_name="bank_cards")
    op.drop_table("bank_cards")
    op.drop_table("wallets")
    op.drop_table("customers")
