"""The wallet's use cases: one function each, taking a unit of work and values.

Every function opens its own transaction (`with uow:`), commits explicitly when it changes something,
and returns a small frozen view with amounts in integer fen and times as aware UTC datetimes.
Rejections are named errors from `bot.wallet.errors`; nothing here knows about chat or HTTP.

Moving money:
    transfer()                     the core posting (idempotent on `transfer_id`)
    create_transfer_draft()  →  verify_pin(draft_id=…)  [→ issue_otp() → verify_otp()]  →  execute_draft()
A draft becomes "confirmed" once its PIN (and, when `needs_otp`, its SMS code) is verified; only a
confirmed draft executes, and its id is the transfer's idempotency key, so executing twice moves
money once.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.masking import mask_name, recipient_numbers
from bot.wallet import recipients as matching
from bot.wallet import security
from bot.wallet.errors import (
    AmountInvalid,
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
    VerificationRequired,
    WalletFrozen,
    WalletLocked,
    WalletNotFound,
    WrongOtp,
    WrongPin,
)
from bot.wallet.messages import sms_text
from bot.wallet.models import (
    TRANSFER_KINDS,
    AuditEntry,
    BankCard,
    Customer,
    OtpChallenge,
    Posting,
    SavedRecipient,
    SmsOutboxMessage,
    Transfer,
    TransferDraft,
    Wallet,
    utcnow,
)
from bot.wallet.sms import SmsSender
from bot.wallet.uow import UnitOfWork

SETTLEMENT_WALLET_NO = "SYS-SETTLEMENT"
FEE_WALLET_NO = "SYS-FEE"
TRANSFER_FEE_FEN = 0  # wallet-to-wallet transfers are free
AMOUNT_MAX_FEN = 10**13  # anything above ¥100 billion is a typo, not a transfer
TRANSFER_ID_CHARS_MAX = 64
MEMO_CHARS_MAX = 64
TRANSACTIONS_LIMIT_MAX = 50
SMS_OUTBOX_LIMIT_MAX = 200
OPEN_DRAFT_STATUSES = ("draft", "confirmed")
PIN_LOCK_REASON = "pin_attempts"
CUSTOMER_FRAUD_REPORT = "customer_fraud_report"  # the customer froze the wallet after reporting fraud
CHANNEL_CHARS_MAX = 16


# ── views ──────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class BalanceView:
    customer_id: str
    wallet_no_masked: str
    balance_fen: int
    status: str  # active | locked | frozen
    lock_reason: str | None
    locked_until: datetime | None


@dataclass(frozen=True)
class TxItem:
    at: datetime
    amount_fen: int  # signed: + money in, - money out
    counterparty: str
    memo: str
    kind: str
    transfer_id: str = ""


@dataclass(frozen=True)
class TransactionsView:
    total_in_fen: int
    total_out_fen: int  # positive
    count: int
    items: tuple[TxItem, ...]


@dataclass(frozen=True)
class RecipientCandidate:
    wallet_id: int
    display_masked: str
    name: str
    score: int
    saved: bool


@dataclass(frozen=True)
class DraftView:
    draft_id: str
    recipient_display: str
    amount_fen: int
    fee_fen: int
    needs_otp: bool
    new_recipient: bool
    status: str = "draft"
    expires_at: datetime | None = None
    pin_verified: bool = False
    otp_verified: bool = False
    recipient_wallet_id: int = 0


@dataclass(frozen=True)
class ReceiptView:
    transfer_id: str
    amount_fen: int
    recipient_display: str
    balance_after_fen: int
    executed_at: datetime
    replayed: bool


@dataclass(frozen=True)
class TransferView:
    transfer_id: str
    source_wallet_id: int
    target_wallet_id: int
    amount_fen: int
    kind: str
    memo: str
    created_at: datetime
    source_balance_after_fen: int
    target_balance_after_fen: int
    replayed: bool


@dataclass(frozen=True)
class CardView:
    bank: str
    last4: str


@dataclass(frozen=True)
class CustomerView:
    customer_id: str
    name: str
    masked_name: str
    phone_masked: str
    wallet_id: int
    wallet_no_masked: str
    cards: tuple[CardView, ...]


@dataclass(frozen=True)
class SmsView:
    id: int
    customer_id: str | None
    phone: str
    purpose: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class LedgerReport:
    transfers: int
    postings: int
    customer_total_fen: int


# ── small helpers ──────────────────────────────────────────────────────────────────────────────


def _now(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError("pass an aware datetime")
    return now.astimezone(timezone.utc)


def _aware(at: datetime) -> datetime:
    """Naive datetimes from callers mean Asia/Shanghai wall-clock time."""
    return at.replace(tzinfo=security.BANK_TZ) if at.tzinfo is None else at


def _is_amount(amount_fen: object) -> bool:
    return isinstance(amount_fen, int) and not isinstance(amount_fen, bool) and 0 < amount_fen <= AMOUNT_MAX_FEN


def mask_wallet_no(wallet_no: str) -> str:
    return "****" + wallet_no[-4:]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def _customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


def _customer_wallet(session: Session, customer_id: str) -> Wallet:
    wallet = session.scalars(select(Wallet).where(Wallet.customer_id == customer_id)).one_or_none()
    if wallet is None:
        raise CustomerNotFound(customer_id)
    return wallet


def _lock_expired(wallet: Wallet, now: datetime) -> bool:
    return wallet.status == "locked" and wallet.locked_until is not None and wallet.locked_until <= now


def _effective_status(wallet: Wallet, now: datetime) -> str:
    return "active" if _lock_expired(wallet, now) else wallet.status


def _ensure_can_send(wallet: Wallet, now: datetime) -> None:
    if wallet.kind != "customer":
        return
    status = _effective_status(wallet, now)
    if status == "frozen":
        raise WalletFrozen(wallet.id, wallet.lock_reason or "")
    if status == "locked":
        raise WalletLocked(wallet.id, wallet.locked_until, wallet.lock_reason or "")


def _audit(session: Session, *, actor: str, action: str, target: str, details: dict, now: datetime) -> None:
    session.add(AuditEntry(at=now, actor=actor, action=action, target=target, details=details))


def _used_today_fen(session: Session, wallet_id: int, now: datetime) -> int:
    day_start = security.local_day_start(now)
    used = session.scalar(
        select(func.coalesce(func.sum(Transfer.amount_fen), 0)).where(
            Transfer.source_wallet_id == wallet_id,
            Transfer.kind == "transfer",
            Transfer.created_at >= day_start,
        )
    )
    return int(used or 0)


def _check_limits(uow: UnitOfWork, wallet_id: int, amount_fen: int, now: datetime) -> None:
    settings = uow.settings
    if amount_fen > settings.transfer_limit_fen:
        raise PerTransferLimitExceeded(amount_fen, settings.transfer_limit_fen)
    used_fen = _used_today_fen(uow.session, wallet_id, now)
    if used_fen + amount_fen > settings.daily_limit_fen:
        raise DailyLimitExceeded(amount_fen, used_fen, settings.daily_limit_fen)


def _names_by_wallet(session: Session, wallet_ids: set[int], viewer_id: str | None) -> dict[int, str]:
    """How the viewer knows each wallet: their saved alias, else the masked owner, else the account name."""
    if not wallet_ids:
        return {}
    rows = session.execute(
        select(Wallet.id, Wallet.name, Customer.masked_name)
        .outerjoin(Customer, Customer.id == Wallet.customer_id)
        .where(Wallet.id.in_(wallet_ids))
    ).all()
    names = {wallet_id: (masked or name) for wallet_id, name, masked in rows}
    if viewer_id is not None:
        aliases = session.execute(
            select(SavedRecipient.wallet_id, SavedRecipient.alias).where(
                SavedRecipient.customer_id == viewer_id, SavedRecipient.wallet_id.in_(wallet_ids)
            )
        ).all()
        names.update(dict(aliases))
    return names


def _recipient_display(session: Session, wallet: Wallet, viewer_id: str | None) -> str:
    owner = session.get(Customer, wallet.customer_id) if wallet.customer_id else None
    masked = f"{owner.masked_name if owner else wallet.name} {mask_wallet_no(wallet.wallet_no)}"
    if viewer_id is None or owner is None:
        return masked
    alias = session.scalar(
        select(SavedRecipient.alias).where(
            SavedRecipient.customer_id == viewer_id, SavedRecipient.wallet_id == wallet.id
        )
    )
    # The name the customer saved them under is the customer's own word for them: show it (masked otherwise).
    return masked if not alias else f"{alias} ({masked})"


def _balance_view(customer_id: str, wallet: Wallet, now: datetime) -> BalanceView:
    status = _effective_status(wallet, now)
    return BalanceView(
        customer_id=customer_id,
        wallet_no_masked=mask_wallet_no(wallet.wallet_no),
        balance_fen=wallet.balance_fen,
        status=status,
        lock_reason=None if status == "active" else wallet.lock_reason,
        locked_until=wallet.locked_until if status == "locked" else None,
    )


# ── the core posting ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class _TransferRequest:
    transfer_id: str
    source_wallet_id: int
    target_wallet_id: int
    amount_fen: int
    kind: str
    memo: str

    def same_as(self, existing: Transfer) -> bool:
        return (
            existing.source_wallet_id == self.source_wallet_id
            and existing.target_wallet_id == self.target_wallet_id
            and existing.amount_fen == self.amount_fen
            and existing.kind == self.kind
            and existing.memo == self.memo
        )


def _request(transfer_id, source_wallet_id, target_wallet_id, amount_fen, kind, memo) -> _TransferRequest:
    if not isinstance(transfer_id, str) or not transfer_id or len(transfer_id) > TRANSFER_ID_CHARS_MAX:
        raise ValueError(f"transfer_id must be 1 to {TRANSFER_ID_CHARS_MAX} characters")
    if kind not in TRANSFER_KINDS:
        raise ValueError(f"unknown transfer kind {kind!r}")
    if len(memo) > MEMO_CHARS_MAX:
        raise ValueError(f"memo is longer than {MEMO_CHARS_MAX} characters")
    if not _is_amount(amount_fen):
        raise AmountInvalid(amount_fen)
    if source_wallet_id == target_wallet_id:
        raise SameWallet(source_wallet_id)
    return _TransferRequest(transfer_id, source_wallet_id, target_wallet_id, amount_fen, kind, memo)


def _transfer_view(session: Session, transfer: Transfer, *, replayed: bool) -> TransferView:
    after = dict(
        session.execute(
            select(Posting.wallet_id, Posting.balance_after_fen).where(Posting.transfer_id == transfer.id)
        ).all()
    )
    return TransferView(
        transfer_id=transfer.id,
        source_wallet_id=transfer.source_wallet_id,
        target_wallet_id=transfer.target_wallet_id,
        amount_fen=transfer.amount_fen,
        kind=transfer.kind,
        memo=transfer.memo,
        created_at=transfer.created_at,
        source_balance_after_fen=after[transfer.source_wallet_id],
        target_balance_after_fen=after[transfer.target_wallet_id],
        replayed=replayed,
    )


def _post(uow: UnitOfWork, request: _TransferRequest, now: datetime, *, enforce_limits: bool) -> TransferView:
    """Write one transfer inside the caller's transaction. The caller commits."""
    session = uow.session
    wallets = uow.lock_wallets([request.source_wallet_id, request.target_wallet_id])
    # Only now, holding the locks, is "was this id used already?" a question with a stable answer.
    existing = session.scalars(select(Transfer).where(Transfer.id == request.transfer_id)).one_or_none()
    if existing is not None:
        if not request.same_as(existing):
            raise TransferIdReused(request.transfer_id)
        return _transfer_view(session, existing, replayed=True)

    source = wallets.get(request.source_wallet_id)
    target = wallets.get(request.target_wallet_id)
    if source is None:
        raise WalletNotFound(request.source_wallet_id)
    if target is None:
        raise RecipientNotFound(request.target_wallet_id)
    _ensure_can_send(source, now)
    if enforce_limits:
        _check_limits(uow, source.id, request.amount_fen, now)
    if source.kind != "settlement" and source.balance_fen < request.amount_fen:
        raise InsufficientFunds(source.id, source.balance_fen, request.amount_fen)

    deltas = ((source, -request.amount_fen), (target, request.amount_fen))
    if sum(delta for _, delta in deltas) != 0:
        raise LedgerCorrupted("postings do not sum to zero", request.transfer_id)
    transfer = Transfer(
        id=request.transfer_id,
        source_wallet_id=source.id,
        target_wallet_id=target.id,
        amount_fen=request.amount_fen,
        kind=request.kind,
        memo=request.memo,
        status="posted",
        created_at=now,
    )
    session.add(transfer)
    session.flush()  # the transfer row first: its primary key is the idempotency guard
    for wallet, delta in deltas:
        wallet.balance_fen += delta
        if wallet.kind != "settlement" and wallet.balance_fen < 0:
            raise LedgerCorrupted(f"wallet {wallet.id} would go negative", request.transfer_id)
        session.add(
            Posting(
                transfer_id=transfer.id,
                wallet_id=wallet.id,
                delta_fen=delta,
                balance_after_fen=wallet.balance_fen,
                created_at=now,
            )
        )
    session.flush()
    return TransferView(
        transfer_id=transfer.id,
        source_wallet_id=source.id,
        target_wallet_id=target.id,
        amount_fen=transfer.amount_fen,
        kind=transfer.kind,
        memo=transfer.memo,
        created_at=now,
        source_balance_after_fen=source.balance_fen,
        target_balance_after_fen=target.balance_fen,
        replayed=False,
    )


def transfer(
    uow: UnitOfWork,
    *,
    transfer_id: str,
    source_wallet_id: int,
    target_wallet_id: int,
    amount_fen: int,
    kind: str = "transfer",
    memo: str = "",
    now: datetime | None = None,
) -> TransferView:
    """Move `amount_fen` from one wallet to another, exactly once per `transfer_id`.

    A replay with the same fields returns the original (`replayed=True`); the same id with different
    fields raises TransferIdReused. Per-transfer and daily limits are customer policy and apply to
    drafts (`execute_draft`), not to this ledger primitive.
    """
    request = _request(transfer_id, source_wallet_id, target_wallet_id, amount_fen, kind, memo)
    at = _now(now)
    for attempt in (1, 2):
        try:
            with uow:
                view = _post(uow, request, at, enforce_limits=False)
                uow.commit()
                return view
        except IntegrityError:
            # Another transaction committed the same id between our lookup and our insert
            # (PostgreSQL, different wallets): the second pass reads it as a replay or a reuse.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ── customers and balances ─────────────────────────────────────────────────────────────────────


def customer_exists(uow: UnitOfWork, customer_id: str) -> bool:
    with uow:
        return uow.session.get(Customer, customer_id) is not None


def get_customer(uow: UnitOfWork, customer_id: str) -> CustomerView:
    with uow:
        customer = _customer(uow.session, customer_id)
        wallet = _customer_wallet(uow.session, customer_id)
        cards = uow.session.scalars(
            select(BankCard).where(BankCard.customer_id == customer_id).order_by(BankCard.id)
        ).all()
        return CustomerView(
            customer_id=customer.id,
            name=customer.display_name,
            masked_name=customer.masked_name,
            phone_masked=mask_phone(customer.phone),
            wallet_id=wallet.id,
            wallet_no_masked=mask_wallet_no(wallet.wallet_no),
            cards=tuple(CardView(card.bank, card.last4) for card in cards),
        )


def get_balance(uow: UnitOfWork, customer_id: str, *, now: datetime | None = None) -> BalanceView:
    at = _now(now)
    with uow:
        wallet = _customer_wallet(uow.session, customer_id)
        return _balance_view(customer_id, wallet, at)


def settlement_wallet_id(uow: UnitOfWork) -> int:
    """The bank's settlement account: where money from bank cards comes from (top-ups)."""
    with uow:
        wallet_id = uow.session.scalar(select(Wallet.id).where(Wallet.wallet_no == SETTLEMENT_WALLET_NO))
        if wallet_id is None:
            raise WalletNotFound(SETTLEMENT_WALLET_NO)
        return wallet_id


def _add_customer(
    uow: UnitOfWork,
    *,
    customer_id: str,
    name: str,
    phone: str,
    id_number: str,
    pin: str | None,
    wallet_no: str,
    now: datetime,
) -> Wallet:
    session = uow.session
    customer = Customer(
        id=customer_id,
        display_name=name,
        masked_name=mask_name(name),
        phone=phone,
        id_number_hash=security.hash_id_number(uow.settings.secret, id_number),
        id_number_last4=id_number[-4:],
        created_at=now,
    )
    session.add(customer)
    session.flush()
    wallet = Wallet(
        wallet_no=wallet_no,
        kind="customer",
        customer_id=customer_id,
        name="",
        status="active",
        balance_fen=0,
        pin_hash=security.hash_pin(uow.settings, pin) if pin is not None else None,
        pin_failures=0,
        created_at=now,
    )
    session.add(wallet)
    session.flush()
    return wallet


def open_customer(
    uow: UnitOfWork,
    *,
    customer_id: str,
    name: str,
    phone: str,
    id_number: str,
    pin: str,
    wallet_no: str,
    now: datetime | None = None,
) -> CustomerView:
    """Register a customer with an empty active wallet (admin tools, demo data, tests)."""
    at = _now(now)
    with uow:
        _add_customer(
            uow, customer_id=customer_id, name=name, phone=phone, id_number=id_number, pin=pin,
            wallet_no=wallet_no, now=at,
        )
        uow.commit()
    return get_customer(uow, customer_id)


def save_recipient(uow: UnitOfWork, *, customer_id: str, wallet_id: int, alias: str) -> None:
    with uow:
        _customer(uow.session, customer_id)
        wallet = uow.session.get(Wallet, wallet_id)
        if wallet is None or wallet.kind != "customer":
            raise RecipientNotFound(wallet_id)
        existing = uow.session.scalars(
            select(SavedRecipient).where(
                SavedRecipient.customer_id == customer_id, SavedRecipient.wallet_id == wallet_id
            )
        ).one_or_none()
        if existing is None:
            uow.session.add(SavedRecipient(customer_id=customer_id, wallet_id=wallet_id, alias=alias, created_at=utcnow()))
        else:
            existing.alias = alias
        uow.commit()


def verify_id_number(uow: UnitOfWork, *, customer_id: str, id_number: str) -> bool:
    with uow:
        customer = _customer(uow.session, customer_id)
        expected = security.hash_id_number(uow.settings.secret, id_number)
        return hmac.compare_digest(expected, customer.id_number_hash)


# ── history ────────────────────────────────────────────────────────────────────────────────────


TX_DIRECTIONS = ("in", "out")


def list_transactions(
    uow: UnitOfWork,
    customer_id: str,
    start: datetime,
    end: datetime,
    limit: int = 5,
    *,
    direction: str | None = None,
    memo_keyword: str | None = None,
) -> TransactionsView:
    """Money in and out of the customer's wallet in [start, end), newest first (naive = Shanghai time).

    `direction="in"` keeps transfers received from people (not top-ups), `"out"` money paid or sent;
    `memo_keyword` keeps the transactions whose memo names it (外卖, 超市, 电费, 话费, 打车).
    """
    start, end = _aware(start), _aware(end)
    limit = max(0, min(int(limit), TRANSACTIONS_LIMIT_MAX))
    if direction is not None and direction not in TX_DIRECTIONS:
        raise ValueError(f"direction must be one of {TX_DIRECTIONS}, not {direction!r}")
    with uow:
        session = uow.session
        wallet = _customer_wallet(session, customer_id)
        in_range: tuple = (Posting.wallet_id == wallet.id, Posting.created_at >= start, Posting.created_at < end)
        if direction == "in":
            in_range += (Posting.delta_fen > 0, Posting.transfer_id.in_(select(Transfer.id).where(Transfer.kind == "transfer")))
        elif direction == "out":
            in_range += (Posting.delta_fen < 0,)
        if memo_keyword:
            in_range += (Posting.transfer_id.in_(select(Transfer.id).where(Transfer.memo.contains(memo_keyword))),)
        total_in, total_out, count = session.execute(
            select(
                func.coalesce(func.sum(case((Posting.delta_fen > 0, Posting.delta_fen), else_=0)), 0),
                func.coalesce(func.sum(case((Posting.delta_fen < 0, -Posting.delta_fen), else_=0)), 0),
                func.count(Posting.id),
            ).where(*in_range)
        ).one()
        items = _tx_items(session, wallet.id, customer_id, in_range, limit)
        return TransactionsView(int(total_in), int(total_out), int(count), items)


def last_transaction(uow: UnitOfWork, customer_id: str) -> TxItem | None:
    with uow:
        wallet = _customer_wallet(uow.session, customer_id)
        items = _tx_items(uow.session, wallet.id, customer_id, (Posting.wallet_id == wallet.id,), 1)
        return items[0] if items else None


def _tx_items(session: Session, wallet_id: int, customer_id: str, where: tuple, limit: int) -> tuple[TxItem, ...]:
    if limit == 0:
        return ()
    rows = session.execute(
        select(
            Posting.delta_fen,
            Posting.created_at,
            Transfer.id,
            Transfer.kind,
            Transfer.memo,
            Transfer.source_wallet_id,
            Transfer.target_wallet_id,
        )
        .join(Transfer, Transfer.id == Posting.transfer_id)
        .where(*where)
        .order_by(Posting.created_at.desc(), Posting.id.desc())
        .limit(limit)
    ).all()
    others = {source if target == wallet_id else target for *_, source, target in rows}
    names = _names_by_wallet(session, others, customer_id)
    return tuple(
        TxItem(
            at=at,
            amount_fen=delta,
            counterparty=names.get(source if target == wallet_id else target, ""),
            memo=memo,
            kind=kind,
            transfer_id=transfer_id,
        )
        for delta, at, transfer_id, kind, memo, source, target in rows
    )


# ── recipients ─────────────────────────────────────────────────────────────────────────────────


def _saved_recipient_rows(session: Session, customer_id: str) -> list:
    """The customer's saved recipients with the names they go by: (wallet_id, alias, display_name, masked_name, wallet_no)."""
    return session.execute(
        select(SavedRecipient.wallet_id, SavedRecipient.alias, Customer.display_name, Customer.masked_name, Wallet.wallet_no)
        .join(Wallet, Wallet.id == SavedRecipient.wallet_id)
        .join(Customer, Customer.id == Wallet.customer_id)
        .where(SavedRecipient.customer_id == customer_id)
        .order_by(SavedRecipient.id)
    ).all()


def resolve_recipient(uow: UnitOfWork, customer_id: str, text: str) -> list[RecipientCandidate]:
    """Who "张叁", "妈妈", "13912345678" or a wallet number means for this customer, best first.

    Names match only the customer's saved recipients (fuzzy, by characters and by sound); a phone
    or wallet number matches any customer wallet exactly. An empty list means "ask again".
    """
    with uow:
        session = uow.session
        _customer_wallet(session, customer_id)
        saved_rows = _saved_recipient_rows(session, customer_id)
        saved = {row.wallet_id: row for row in saved_rows}

        number = matching.digits_only(text)
        if number:
            row = session.execute(
                select(Wallet.id, Wallet.wallet_no, Customer.masked_name)
                .join(Customer, Customer.id == Wallet.customer_id)
                .where((Customer.phone == number) | (Wallet.wallet_no == number))
            ).first()
            if row is None:
                return []
            hit = saved.get(row.id)
            return [
                RecipientCandidate(
                    wallet_id=row.id,
                    display_masked=f"{row.masked_name} {mask_wallet_no(row.wallet_no)}",
                    name=hit.alias if hit else row.masked_name,
                    score=100,
                    saved=hit is not None,
                )
            ]

        entries = [
            matching.NameEntry(key=row.wallet_id, names=tuple(dict.fromkeys((row.alias, row.display_name))))
            for row in saved_rows
        ]
        return [
            RecipientCandidate(
                wallet_id=match.key,
                display_masked=f"{saved[match.key].masked_name} {mask_wallet_no(saved[match.key].wallet_no)}",
                name=saved[match.key].alias,
                score=match.score,
                saved=True,
            )
            for match in matching.rank_names(text, entries)
        ]




def find_recipients_in_text(
    uow: UnitOfWork, customer_id: str, text: str, *, also_called: dict[str, tuple[str, ...]] | None = None
) -> list[RecipientCandidate]:
    """The recipients a whole sentence names: "给13200005555转88元", "转500给小刘吧".

    A phone or wallet number inside the sentence matches any customer wallet exactly; otherwise the
    customer's saved recipients whose alias or real name stands in the sentence, longest name first
    (so 小刘 is not also 刘). Several different people named → all of them (the caller asks which).
    `also_called` gives other words for an alias ({"妈妈": ("我妈", "老妈")}).
    """
    numbers = recipient_numbers(text)
    found: list[RecipientCandidate] = []
    for number in dict.fromkeys(numbers):
        for candidate in resolve_recipient(uow, customer_id, number):
            if all(c.wallet_id != candidate.wallet_id for c in found):
                found.append(candidate)
    if found or numbers:
        return found
    with uow:
        rows = _saved_recipient_rows(uow.session, customer_id)
    variants = also_called or {}
    names = sorted(
        ((name, row) for row in rows for name in {row.alias, row.display_name, *variants.get(row.alias, ())} if name),
        key=lambda p: -len(p[0]),
    )
    remaining = text
    for name, row in names:
        if name in remaining:
            remaining = remaining.replace(name, "\0")
            if all(c.wallet_id != row.wallet_id for c in found):
                found.append(RecipientCandidate(
                    wallet_id=row.wallet_id, display_masked=f"{row.masked_name} {mask_wallet_no(row.wallet_no)}",
                    name=row.alias, score=100, saved=True,
                ))
    return found


def recent_same_transfer(
    uow: UnitOfWork, *, customer_id: str, recipient_wallet_id: int, amount_fen: int, within_s: int, now: datetime | None = None
) -> bool:
    """Whether the customer already sent this amount to this wallet within the last `within_s` seconds."""
    at = _now(now)
    with uow:
        source = _customer_wallet(uow.session, customer_id)
        count = uow.session.scalar(
            select(func.count(Transfer.id)).where(
                Transfer.source_wallet_id == source.id,
                Transfer.target_wallet_id == recipient_wallet_id,
                Transfer.amount_fen == amount_fen,
                Transfer.kind == "transfer",
                Transfer.created_at >= at - timedelta(seconds=within_s),
            )
        )
    return bool(count)


# ── drafts ─────────────────────────────────────────────────────────────────────────────────────


def _draft_status(draft: TransferDraft, now: datetime) -> str:
    if draft.status in OPEN_DRAFT_STATUSES and draft.expires_at <= now:
        return "expired"
    return draft.status


def _draft_view(session: Session, draft: TransferDraft, now: datetime) -> DraftView:
    recipient = session.get(Wallet, draft.recipient_wallet_id)
    return DraftView(
        draft_id=draft.id,
        recipient_display=_recipient_display(session, recipient, draft.customer_id),
        amount_fen=draft.amount_fen,
        fee_fen=draft.fee_fen,
        needs_otp=draft.needs_otp,
        new_recipient=draft.new_recipient,
        status=_draft_status(draft, now),
        expires_at=draft.expires_at,
        pin_verified=draft.pin_verified_at is not None,
        otp_verified=draft.otp_verified_at is not None,
        recipient_wallet_id=draft.recipient_wallet_id,
    )


def _owned_draft(uow: UnitOfWork, customer_id: str, draft_id: str, *, lock: bool) -> TransferDraft:
    if lock:
        draft = uow.lock_draft(draft_id)
    else:
        draft = uow.session.get(TransferDraft, draft_id)
    if draft is None or draft.customer_id != customer_id:
        raise DraftNotFound(draft_id)
    return draft


def _ensure_open(draft: TransferDraft, now: datetime) -> None:
    """Raise unless the draft can still be verified: cancelled, expired and executed drafts cannot."""
    if draft.status == "cancelled":
        raise DraftCancelled(draft.id)
    if draft.status == "expired" or (draft.status in OPEN_DRAFT_STATUSES and draft.expires_at <= now):
        raise DraftExpired(draft.id, draft.expires_at)
    if draft.status == "executed":
        raise DraftNotFound(draft.id)


def _confirm_if_verified(draft: TransferDraft) -> None:
    if draft.pin_verified_at is not None and (not draft.needs_otp or draft.otp_verified_at is not None):
        draft.status = "confirmed"


def create_transfer_draft(
    uow: UnitOfWork,
    *,
    customer_id: str,
    recipient_wallet_id: int,
    amount_fen: int,
    channel: str,
    now: datetime | None = None,
) -> DraftView:
    """Check a transfer and write it down for confirmation. Any earlier open draft is cancelled."""
    at = _now(now)
    if not _is_amount(amount_fen):
        raise AmountInvalid(amount_fen)
    try:
        recipient_wallet_id = int(recipient_wallet_id)
    except (TypeError, ValueError):
        raise RecipientNotFound(recipient_wallet_id) from None
    with uow:
        session = uow.session
        source = _customer_wallet(session, customer_id)
        recipient = session.get(Wallet, recipient_wallet_id)
        if recipient is None or recipient.kind != "customer":
            raise RecipientNotFound(recipient_wallet_id)
        if recipient.id == source.id:
            raise SameWallet(source.id)
        _ensure_can_send(source, at)
        _check_limits(uow, source.id, amount_fen, at)
        fee_fen = TRANSFER_FEE_FEN
        if source.balance_fen < amount_fen + fee_fen:
            raise InsufficientFunds(source.id, source.balance_fen, amount_fen + fee_fen)

        saved = session.scalar(
            select(func.count(SavedRecipient.id)).where(
                SavedRecipient.customer_id == customer_id, SavedRecipient.wallet_id == recipient.id
            )
        )
        paid_before = session.scalar(
            select(func.count(Transfer.id)).where(
                Transfer.source_wallet_id == source.id,
                Transfer.target_wallet_id == recipient.id,
                Transfer.kind == "transfer",
            )
        )
        new_recipient = not saved and not paid_before
        needs_otp = amount_fen >= uow.settings.otp_threshold_fen or new_recipient

        session.execute(
            update(TransferDraft)
            .where(TransferDraft.customer_id == customer_id, TransferDraft.status.in_(OPEN_DRAFT_STATUSES))
            .values(status="cancelled")
        )
        draft = TransferDraft(
            id=security.new_token("d"),
            customer_id=customer_id,
            source_wallet_id=source.id,
            recipient_wallet_id=recipient.id,
            amount_fen=amount_fen,
            fee_fen=fee_fen,
            needs_otp=needs_otp,
            new_recipient=new_recipient,
            channel=str(channel)[:CHANNEL_CHARS_MAX],
            status="draft",
            created_at=at,
            expires_at=at + timedelta(seconds=uow.settings.draft_ttl_s),
        )
        session.add(draft)
        session.flush()
        view = _draft_view(session, draft, at)
        uow.commit()
        return view


def get_draft(uow: UnitOfWork, *, customer_id: str, draft_id: str, now: datetime | None = None) -> DraftView:
    at = _now(now)
    with uow:
        return _draft_view(uow.session, _owned_draft(uow, customer_id, draft_id, lock=False), at)


def latest_open_draft(uow: UnitOfWork, customer_id: str, *, now: datetime | None = None) -> DraftView | None:
    at = _now(now)
    with uow:
        draft = uow.session.scalars(
            select(TransferDraft)
            .where(
                TransferDraft.customer_id == customer_id,
                TransferDraft.status.in_(OPEN_DRAFT_STATUSES),
                TransferDraft.expires_at > at,
            )
            .order_by(TransferDraft.created_at.desc())
            .limit(1)
        ).first()
        return None if draft is None else _draft_view(uow.session, draft, at)


def cancel_draft(uow: UnitOfWork, *, customer_id: str, draft_id: str, now: datetime | None = None) -> DraftView:
    """Cancel an open draft. An executed draft stays executed (the view says so): money moved."""
    at = _now(now)
    with uow:
        draft = _owned_draft(uow, customer_id, draft_id, lock=True)
        if draft.status in OPEN_DRAFT_STATUSES:
            draft.status = "cancelled"
            uow.session.execute(
                update(OtpChallenge)
                .where(OtpChallenge.draft_id == draft.id, OtpChallenge.status == "active")
                .values(status="superseded")
            )
        view = _draft_view(uow.session, draft, at)
        uow.commit()
        return view


def execute_draft(uow: UnitOfWork, *, customer_id: str, draft_id: str, now: datetime | None = None) -> ReceiptView:
    """Move the money of a confirmed draft, once. Executing it again returns the first receipt."""
    at = _now(now)
    for attempt in (1, 2):
        try:
            return _execute_draft_once(uow, customer_id, draft_id, at)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _execute_draft_once(uow: UnitOfWork, customer_id: str, draft_id: str, now: datetime) -> ReceiptView:
    with uow:
        session = uow.session
        draft = _owned_draft(uow, customer_id, draft_id, lock=True)
        if draft.status == "executed":
            return _receipt(session, draft, replayed=True)
        if draft.status == "cancelled":
            raise DraftCancelled(draft.id)
        if draft.status == "expired" or draft.expires_at <= now:
            draft.status = "expired"
            uow.commit()
            raise DraftExpired(draft.id, draft.expires_at)
        if draft.pin_verified_at is None:
            raise VerificationRequired(draft.id, "pin")
        if draft.needs_otp and draft.otp_verified_at is None:
            raise VerificationRequired(draft.id, "otp")

        request = _request(draft.id, draft.source_wallet_id, draft.recipient_wallet_id, draft.amount_fen, "transfer", "")
        view = _post(uow, request, now, enforce_limits=True)
        draft.status = "executed"
        draft.executed_at = view.created_at
        draft.transfer_id = view.transfer_id
        _audit(
            session,
            actor=customer_id,
            action="transfer_executed",
            target=customer_id,
            details={"transfer_id": view.transfer_id, "amount_fen": view.amount_fen,
                     "target_wallet_id": view.target_wallet_id},
            now=now,
        )
        session.flush()
        receipt = _receipt(session, draft, replayed=view.replayed)
        uow.commit()
        return receipt


def _receipt(session: Session, draft: TransferDraft, *, replayed: bool) -> ReceiptView:
    transfer = session.get(Transfer, draft.transfer_id)
    if transfer is None:
        raise LedgerCorrupted("executed draft without its transfer", draft.transfer_id)
    view = _transfer_view(session, transfer, replayed=replayed)
    recipient = session.get(Wallet, transfer.target_wallet_id)
    return ReceiptView(
        transfer_id=transfer.id,
        amount_fen=transfer.amount_fen,
        recipient_display=_recipient_display(session, recipient, draft.customer_id),
        balance_after_fen=view.source_balance_after_fen,
        executed_at=transfer.created_at,
        replayed=replayed,
    )


# ── PIN and SMS code ───────────────────────────────────────────────────────────────────────────


def verify_pin(
    uow: UnitOfWork,
    *,
    customer_id: str,
    pin: str,
    draft_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Check the payment PIN; with `draft_id`, a success also authorises that draft.

    A wrong PIN raises WrongPin(attempts_left); the `pin_attempts_max`-th wrong PIN in a row locks
    the wallet until 00:00 Asia/Shanghai the next day and raises WalletLocked(until). A success
    resets the count. The slow hash is checked outside any transaction, so no lock is held meanwhile.
    """
    at = _now(now)
    settings = uow.settings
    with uow:
        wallet = _customer_wallet(uow.session, customer_id)
        if draft_id is not None:
            _ensure_open(_owned_draft(uow, customer_id, draft_id, lock=False), at)
        _ensure_can_send(wallet, at)
        wallet_id, pin_hash = wallet.id, wallet.pin_hash

    matched = security.pin_matches(settings, pin_hash, pin)

    with uow:
        session = uow.session
        draft = _owned_draft(uow, customer_id, draft_id, lock=True) if draft_id is not None else None
        wallet = uow.lock_wallets([wallet_id])[wallet_id]
        if _lock_expired(wallet, at):
            wallet.status, wallet.lock_reason, wallet.locked_until, wallet.pin_failures = "active", None, None, 0
        if draft is not None:
            _ensure_open(draft, at)
        _ensure_can_send(wallet, at)

        if matched:
            wallet.pin_failures = 0
            if wallet.pin_hash and security.pin_needs_rehash(settings, wallet.pin_hash):
                wallet.pin_hash = security.hash_pin(settings, pin)
            if draft is not None:
                draft.pin_verified_at = at
                _confirm_if_verified(draft)
            uow.commit()
            return

        wallet.pin_failures += 1
        attempts_left = settings.pin_attempts_max - wallet.pin_failures
        if attempts_left > 0:
            uow.commit()
            raise WrongPin(attempts_left)
        until = security.next_local_midnight(at)
        wallet.status, wallet.lock_reason, wallet.locked_until = "locked", PIN_LOCK_REASON, until
        _audit(
            session,
            actor="system",
            action="wallet_locked",
            target=customer_id,
            details={"reason": PIN_LOCK_REASON, "until": until.isoformat(), "pin_failures": wallet.pin_failures},
            now=at,
        )
        uow.commit()
        raise WalletLocked(wallet_id, until, PIN_LOCK_REASON)


def issue_otp(
    uow: UnitOfWork,
    sms: SmsSender,
    *,
    customer_id: str,
    purpose: str,
    draft_id: str,
    resend: bool = False,
    now: datetime | None = None,
) -> None:
    """Text a fresh 6-digit code to the customer's phone; any older live code stops working.

    `resend=True` is the customer's "重新获取": at most one a `otp_resend_interval_s`, and at most
    `otp_resends_per_day_max` a day (Asia/Shanghai), or `OtpResendTooSoon` / `OtpResendLimitReached`.
    """
    at = _now(now)
    settings = uow.settings
    code = security.new_otp_code()
    with uow:
        session = uow.session
        customer = _customer(session, customer_id)
        draft = _owned_draft(uow, customer_id, draft_id, lock=True)
        _ensure_open(draft, at)
        if resend:
            _check_resend(session, settings, customer_id, draft.id, at)
        session.execute(
            update(OtpChallenge)
            .where(OtpChallenge.customer_id == customer_id, OtpChallenge.status == "active")
            .values(status="superseded")
        )
        challenge_id = security.new_token("otp")
        session.add(
            OtpChallenge(
                id=challenge_id,
                customer_id=customer_id,
                draft_id=draft.id,
                purpose=purpose,
                code_hash=security.hash_otp(settings.secret, challenge_id, code),
                status="active",
                attempts_used=0,
                created_at=at,
                expires_at=at + timedelta(seconds=settings.otp_ttl_s),
            )
        )
        recipient = session.get(Wallet, draft.recipient_wallet_id)
        owner = session.get(Customer, recipient.customer_id) if recipient.customer_id else None
        text = sms_text(
            purpose=purpose,
            code=code,
            ttl_min=max(1, settings.otp_ttl_s // 60),
            amount_fen=draft.amount_fen,
            recipient=owner.masked_name if owner else recipient.name,
        )
        phone = customer.phone
        uow.commit()
    sms.send(phone=phone, text=text, purpose=purpose, customer_id=customer_id)


def _check_resend(session: Session, settings, customer_id: str, draft_id: str, at: datetime) -> None:
    last = session.scalar(select(func.max(OtpChallenge.created_at)).where(OtpChallenge.draft_id == draft_id))
    if last is not None:
        wait_s = settings.otp_resend_interval_s - int((at - _aware(last)).total_seconds())
        if wait_s > 0:
            raise OtpResendTooSoon(wait_s)
    local = at.astimezone(security.BANK_TZ)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
    sent, drafts = session.execute(
        select(func.count(OtpChallenge.id), func.count(func.distinct(OtpChallenge.draft_id))).where(
            OtpChallenge.customer_id == customer_id, OtpChallenge.created_at >= midnight
        )
    ).one()
    if int(sent) - int(drafts) >= settings.otp_resends_per_day_max:  # every code after a draft's first is a resend
        raise OtpResendLimitReached(settings.otp_resends_per_day_max)


def verify_otp(
    uow: UnitOfWork, *, customer_id: str, draft_id: str, code: str, now: datetime | None = None
) -> None:
    """Check the SMS code for a draft: single use, `otp_ttl_s` seconds, `otp_attempts_max` tries."""
    at = _now(now)
    settings = uow.settings
    with uow:
        session = uow.session
        draft = _owned_draft(uow, customer_id, draft_id, lock=True)
        _ensure_open(draft, at)
        challenge = session.scalars(
            select(OtpChallenge)
            .where(
                OtpChallenge.customer_id == customer_id,
                OtpChallenge.draft_id == draft.id,
                OtpChallenge.status == "active",
            )
            .order_by(OtpChallenge.created_at.desc())
            .limit(1)
            .with_for_update()
        ).first()
        if challenge is None:
            raise OtpExpired(draft.id)
        if challenge.expires_at <= at:
            challenge.status = "expired"
            uow.commit()
            raise OtpExpired(draft.id)
        if security.otp_matches(settings.secret, challenge.id, challenge.code_hash, code):
            challenge.status = "used"
            draft.otp_verified_at = at
            _confirm_if_verified(draft)
            uow.commit()
            return
        challenge.attempts_used += 1
        attempts_left = settings.otp_attempts_max - challenge.attempts_used
        if attempts_left > 0:
            uow.commit()
            raise WrongOtp(attempts_left)
        challenge.status = "exhausted"
        uow.commit()
        raise OtpAttemptsExceeded(draft.id)


# ── agents and operations ──────────────────────────────────────────────────────────────────────


def freeze_wallet(
    uow: UnitOfWork, *, customer_id: str, reason: str, actor: str, now: datetime | None = None
) -> BalanceView:
    """Stop all money leaving the wallet until an agent unfreezes it (fraud reports)."""
    at = _now(now)
    with uow:
        wallet_id = _customer_wallet(uow.session, customer_id).id
        wallet = uow.lock_wallets([wallet_id])[wallet_id]
        previous = wallet.status
        wallet.status, wallet.lock_reason, wallet.locked_until = "frozen", reason[:32], None
        _audit(
            uow.session, actor=actor, action="wallet_frozen", target=customer_id,
            details={"reason": reason, "previous_status": previous}, now=at,
        )
        view = _balance_view(customer_id, wallet, at)
        uow.commit()
        return view


def unlock_wallet(uow: UnitOfWork, *, customer_id: str, actor: str, now: datetime | None = None) -> BalanceView:
    """Lift a lock or a freeze and reset the wrong-PIN count (an agent, after checking identity)."""
    at = _now(now)
    with uow:
        wallet_id = _customer_wallet(uow.session, customer_id).id
        wallet = uow.lock_wallets([wallet_id])[wallet_id]
        previous = {"previous_status": wallet.status, "previous_reason": wallet.lock_reason}
        wallet.status, wallet.lock_reason, wallet.locked_until, wallet.pin_failures = "active", None, None, 0
        _audit(uow.session, actor=actor, action="wallet_unlocked", target=customer_id, details=previous, now=at)
        view = _balance_view(customer_id, wallet, at)
        uow.commit()
        return view


def audit_entries(uow: UnitOfWork, *, target: str, limit: int = 20) -> list[dict]:
    with uow:
        rows = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.target == target).order_by(AuditEntry.id.desc()).limit(limit)
        ).all()
        return [
            {"at": row.at, "actor": row.actor, "action": row.action, "target": row.target, "details": row.details}
            for row in rows
        ]


def sms_outbox(uow: UnitOfWork, limit: int = 20) -> list[SmsView]:
    limit = max(0, min(int(limit), SMS_OUTBOX_LIMIT_MAX))
    with uow:
        rows = uow.session.scalars(
            select(SmsOutboxMessage).order_by(SmsOutboxMessage.id.desc()).limit(limit)
        ).all()
        return [SmsView(row.id, row.customer_id, row.phone, row.purpose, row.text, row.created_at) for row in rows]


def total_balance_fen(uow: UnitOfWork) -> int:
    """The sum of all customer wallets: unchanged by any transfer between them."""
    with uow:
        total = uow.session.scalar(
            select(func.coalesce(func.sum(Wallet.balance_fen), 0)).where(Wallet.kind == "customer")
        )
        return int(total or 0)


def verify_ledger(uow: UnitOfWork) -> LedgerReport:
    """Check the journal's invariants; raise LedgerCorrupted on the first that fails.

    Every transfer's postings sum to 0; every wallet's balance equals the sum of its postings; all
    balances together sum to 0; no wallet but the settlement account is negative.
    """
    with uow:
        session = uow.session
        unbalanced = session.execute(
            select(Posting.transfer_id)
            .group_by(Posting.transfer_id)
            .having((func.sum(Posting.delta_fen) != 0) | (func.count(Posting.id) != 2))
            .limit(1)
        ).first()
        if unbalanced is not None:
            raise LedgerCorrupted("postings of a transfer do not sum to zero", unbalanced[0])
        posted = (
            select(Posting.wallet_id, func.sum(Posting.delta_fen).label("posted_fen"))
            .group_by(Posting.wallet_id)
            .subquery()
        )
        drift = session.execute(
            select(Wallet.id, Wallet.balance_fen, posted.c.posted_fen)
            .outerjoin(posted, posted.c.wallet_id == Wallet.id)
            .where(Wallet.balance_fen != func.coalesce(posted.c.posted_fen, 0))
            .limit(1)
        ).first()
        if drift is not None:
            raise LedgerCorrupted(f"wallet {drift[0]} balance {drift[1]} != postings {drift[2]}")
        grand_total = session.scalar(select(func.coalesce(func.sum(Wallet.balance_fen), 0)))
        if grand_total != 0:
            raise LedgerCorrupted(f"all balances sum to {grand_total}, not 0")
        negative = session.scalar(
            select(func.count(Wallet.id)).where(Wallet.kind != "settlement", Wallet.balance_fen < 0)
        )
        if negative:
            raise LedgerCorrupted(f"{negative} wallets below zero")
        transfers = session.scalar(select(func.count(Transfer.id)))
        unposted = session.scalar(
            select(func.count(Transfer.id)).where(~Transfer.id.in_(select(Posting.transfer_id)))
        )
        if unposted:
            raise LedgerCorrupted(f"{unposted} transfers without postings")
        postings = session.scalar(select(func.count(Posting.id)))
        customer_total = session.scalar(
            select(func.coalesce(func.sum(Wallet.balance_fen), 0)).where(Wallet.kind == "customer")
        )
        return LedgerReport(int(transfers), int(postings), int(customer_total))
