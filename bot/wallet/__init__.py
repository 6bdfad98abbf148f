"""The wallet ledger: customers, wallets, a double-entry journal, transfers, PINs, SMS codes, limits.

Plain Python over SQLAlchemy; no chat, HTTP or Rasa here. Every use case is one function in
`bot.wallet.services` taking a unit of work and values:

    uow = SqlAlchemyUnitOfWork(session_factory)
    draft = create_transfer_draft(uow, customer_id="demo-zhangsan", recipient_wallet_id=2,
                                  amount_fen=50_000, channel="web")
    verify_pin(uow, customer_id="demo-zhangsan", pin=pin, draft_id=draft.draft_id)
    if draft.needs_otp:
        issue_otp(uow, OutboxSmsSender(), customer_id=…, purpose="transfer", draft_id=draft.draft_id)
        verify_otp(uow, customer_id=…, draft_id=draft.draft_id, code=code)
    receipt = execute_draft(uow, customer_id="demo-zhangsan", draft_id=draft.draft_id)

Errors (`bot.wallet.errors`; `bot.wallet.messages.describe(error)` gives the Chinese reply):

    WalletError
    ├── TransferRejected
    │   ├── SameWallet
    │   ├── InsufficientFunds
    │   ├── PerTransferLimitExceeded
    │   ├── DailyLimitExceeded
    │   ├── WalletLocked
    │   ├── WalletFrozen
    │   ├── AmountInvalid
    │   └── RecipientNotFound
    ├── AuthError
    │   ├── WrongPin
    │   ├── WrongOtp
    │   ├── OtpExpired
    │   ├── OtpResendTooSoon
    │   ├── OtpResendLimitReached
    │   ├── OtpAttemptsExceeded
    │   └── VerificationRequired
    ├── CustomerNotFound
    ├── WalletNotFound
    ├── DraftNotFound
    ├── DraftExpired
    ├── DraftCancelled
    ├── TransferIdReused
    └── LedgerCorrupted

Invariants, checked in code and by `verify_ledger`: each transfer's postings sum to 0 fen; a wallet's
balance is the sum of its postings and never negative (a database CHECK too); a transfer id is used
once; money only leaves a wallet that is active.
"""

from bot.wallet.demo import seed_demo
from bot.wallet.errors import (
    AmountInvalid,
    AuthError,
    CustomerNotFound,
    DailyLimitExceeded,
    DraftCancelled,
    DraftExpired,
    DraftNotFound,
    InsufficientFunds,
    LedgerCorrupted,
    OtpAttemptsExceeded,
    OtpExpired,
    OtpResendLimitReached,
    OtpResendTooSoon,
    PerTransferLimitExceeded,
    RecipientNotFound,
    SameWallet,
    TransferIdReused,
    TransferRejected,
    VerificationRequired,
    WalletError,
    WalletFrozen,
    WalletLocked,
    WalletNotFound,
    WrongOtp,
    WrongPin,
)
from bot.wallet.messages import describe, format_yuan
from bot.wallet.services import (
    CUSTOMER_FRAUD_REPORT,
    BalanceView,
    CardView,
    CustomerView,
    DraftView,
    LedgerReport,
    ReceiptView,
    RecipientCandidate,
    SmsView,
    TransactionsView,
    TransferView,
    TxItem,
    audit_entries,
    cancel_draft,
    create_transfer_draft,
    customer_exists,
    execute_draft,
    freeze_wallet,
    get_balance,
    get_customer,
    get_draft,
    issue_otp,
    last_transaction,
    find_recipients_in_text,
    latest_open_draft,
    list_transactions,
    open_customer,
    recent_same_transfer,
    resolve_recipient,
    save_recipient,
    settlement_wallet_id,
    sms_outbox,
    total_balance_fen,
    transfer,
    unlock_wallet,
    verify_id_number,
    verify_ledger,
    verify_otp,
    verify_pin,
)
from bot.wallet.sms import OutboxSmsSender, RecordingSmsSender, SmsSender
from bot.wallet.uow import SqlAlchemyUnitOfWork, UnitOfWork

__all__ = [
    "AmountInvalid",
    "AuthError",
    "BalanceView",
    "CardView",
    "CustomerNotFound",
    "CustomerView",
    "DailyLimitExceeded",
    "DraftCancelled",
    "DraftExpired",
    "DraftNotFound",
    "DraftView",
    "InsufficientFunds",
    "LedgerCorrupted",
    "LedgerReport",
    "OtpAttemptsExceeded",
    "OtpExpired",
    "OtpResendLimitReached",
    "OtpResendTooSoon",
    "OutboxSmsSender",
    "PerTransferLimitExceeded",
    "ReceiptView",
    "RecipientCandidate",
    "RecipientNotFound",
    "RecordingSmsSender",
    "SameWallet",
    "SmsSender",
    "SmsView",
    "SqlAlchemyUnitOfWork",
    "TransactionsView",
    "TransferIdReused",
    "TransferRejected",
    "TransferView",
    "TxItem",
    "UnitOfWork",
    "VerificationRequired",
    "WalletError",
    "WalletFrozen",
    "WalletLocked",
    "WalletNotFound",
    "WrongOtp",
    "WrongPin",
    "audit_entries",
    "cancel_draft",
    "create_transfer_draft",
    "customer_exists",
    "describe",
    "execute_draft",
    "format_yuan",
    "CUSTOMER_FRAUD_REPORT",
    "freeze_wallet",
    "get_balance",
    "get_customer",
    "get_draft",
    "issue_otp",
    "last_transaction",
    "find_recipients_in_text",
    "latest_open_draft",
    "list_transactions",
    "open_customer",
    "recent_same_transfer",
    "resolve_recipient",
    "save_recipient",
    "seed_demo",
    "settlement_wallet_id",
    "sms_outbox",
    "total_balance_fen",
    "transfer",
    "unlock_wallet",
    "verify_id_number",
    "verify_ledger",
    "verify_otp",
    "verify_pin",
]
