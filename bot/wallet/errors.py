"""The wallet's errors. They carry values (fen, attempts left, until-when), never Chinese text:
`bot.wallet.messages.describe` turns each into a customer reply, in one table.

    WalletError
    ├── TransferRejected          the ledger refused to move money; nothing moved
    │   ├── SameWallet
    │   ├── InsufficientFunds
    │   ├── PerTransferLimitExceeded
    │   ├── DailyLimitExceeded
    │   ├── WalletLocked
    │   ├── WalletFrozen
    │   ├── AmountInvalid
    │   └── RecipientNotFound
    ├── AuthError                 the customer did not prove who they are
    │   ├── WrongPin
    │   ├── WrongOtp
    │   ├── OtpExpired
    │   ├── OtpAttemptsExceeded
    │   └── VerificationRequired  a draft was executed before its PIN (and SMS code) step
    ├── CustomerNotFound
    ├── WalletNotFound
    ├── DraftNotFound
    ├── DraftExpired
    ├── DraftCancelled
    ├── TransferIdReused
    └── LedgerCorrupted           an invariant failed: a bug, never the customer's doing
"""

from __future__ import annotations

from datetime import datetime


class WalletError(Exception):
    """Base of every error the wallet raises on purpose."""


class TransferRejected(WalletError):
    """The ledger refused the movement; no money moved."""


class SameWallet(TransferRejected):
    def __init__(self, wallet_id: int) -> None:
        super().__init__(f"source and target are the same wallet {wallet_id}")
        self.wallet_id = wallet_id


class InsufficientFunds(TransferRejected):
    def __init__(self, wallet_id: int, balance_fen: int, amount_fen: int) -> None:
        super().__init__(f"wallet {wallet_id} holds {balance_fen} fen, needs {amount_fen} fen")
        self.wallet_id = wallet_id
        self.balance_fen = balance_fen
        self.amount_fen = amount_fen


class PerTransferLimitExceeded(TransferRejected):
    def __init__(self, amount_fen: int, limit_fen: int) -> None:
        super().__init__(f"{amount_fen} fen is over the per-transfer limit of {limit_fen} fen")
        self.amount_fen = amount_fen
        self.limit_fen = limit_fen


class DailyLimitExceeded(TransferRejected):
    def __init__(self, amount_fen: int, used_fen: int, limit_fen: int) -> None:
        super().__init__(f"{amount_fen} fen on top of {used_fen} fen today is over the daily limit of {limit_fen} fen")
        self.amount_fen = amount_fen
        self.used_fen = used_fen
        self.limit_fen = limit_fen

    @property
    def remaining_fen(self) -> int:
        return max(0, self.limit_fen - self.used_fen)


class WalletLocked(TransferRejected):
    """Locked for a while (too many wrong PINs); an agent can unlock earlier."""

    def __init__(self, wallet_id: int, until: datetime | None, reason: str) -> None:
        super().__init__(f"wallet {wallet_id} locked ({reason}) until {until}")
        self.wallet_id = wallet_id
        self.until = until
        self.reason = reason


class WalletFrozen(TransferRejected):
    """Frozen (fraud report, risk control) until an agent unfreezes it."""

    def __init__(self, wallet_id: int, reason: str) -> None:
        super().__init__(f"wallet {wallet_id} frozen ({reason})")
        self.wallet_id = wallet_id
        self.reason = reason


class AmountInvalid(TransferRejected):
    def __init__(self, amount_fen: object) -> None:
        super().__init__(f"amount must be a whole positive number of fen, got {amount_fen!r}")
        self.amount_fen = amount_fen


class RecipientNotFound(TransferRejected):
    def __init__(self, recipient: object) -> None:
        super().__init__(f"no recipient wallet {recipient!r}")
        self.recipient = recipient


class AuthError(WalletError):
    """The customer did not prove who they are."""


class WrongPin(AuthError):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong PIN, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class WrongOtp(AuthError):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong SMS code, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class OtpExpired(AuthError):
    """No live code for this draft: it expired, was used, or was replaced by a newer one."""

    def __init__(self, draft_id: str) -> None:
        super().__init__(f"no live SMS code for draft {draft_id}")
        self.draft_id = draft_id


class OtpAttemptsExceeded(AuthError):
    def __init__(self, draft_id: str) -> None:
        super().__init__(f"too many wrong SMS codes for draft {draft_id}")
        self.draft_id = draft_id


class OtpResendTooSoon(AuthError):
    """A new SMS code was asked for less than the resend interval after the last one."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"a new SMS code can be sent in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class OtpResendLimitReached(AuthError):
    def __init__(self, resends_max: int) -> None:
        super().__init__(f"no more than {resends_max} SMS code resends a day")
        self.resends_max = resends_max


class VerificationRequired(AuthError):
    """`step` is "pin" or "otp": the draft cannot execute before it."""

    def __init__(self, draft_id: str, step: str) -> None:
        super().__init__(f"draft {draft_id} needs {step} verification first")
        self.draft_id = draft_id
        self.step = step


class CustomerNotFound(WalletError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer {customer_id!r}")
        self.customer_id = customer_id


class WalletNotFound(WalletError):
    def __init__(self, wallet_id: object) -> None:
        super().__init__(f"no wallet {wallet_id!r}")
        self.wallet_id = wallet_id


class DraftNotFound(WalletError):
    def __init__(self, draft_id: str) -> None:
        super().__init__(f"no transfer draft {draft_id!r} for this customer")
        self.draft_id = draft_id


class DraftExpired(WalletError):
    def __init__(self, draft_id: str, expired_at: datetime) -> None:
        super().__init__(f"transfer draft {draft_id} expired at {expired_at}")
        self.draft_id = draft_id
        self.expired_at = expired_at


class DraftCancelled(WalletError):
    def __init__(self, draft_id: str) -> None:
        super().__init__(f"transfer draft {draft_id} was cancelled")
        self.draft_id = draft_id


class TransferIdReused(WalletError):
    """The idempotency key was used before for a different movement."""

    def __init__(self, transfer_id: str) -> None:
        super().__init__(f"transfer id {transfer_id!r} already names a different transfer")
        self.transfer_id = transfer_id


class LedgerCorrupted(WalletError):
    """An invariant of the journal failed. Never expected: stop and page someone."""

    def __init__(self, detail: str, transfer_id: str | None = None) -> None:
        super().__init__(detail if transfer_id is None else f"{detail} (transfer {transfer_id})")
        self.detail = detail
        self.transfer_id = transfer_id
