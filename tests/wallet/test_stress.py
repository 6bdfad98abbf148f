"""Concurrency: many threads moving money at once, on SQLite and on PostgreSQL.

Each worker thread has its own unit of work (a unit of work is one transaction, not shareable);
they share the engine's connection pool.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from bot.db import make_engine, make_session_factory
from bot.wallet import (
    InsufficientFunds,
    RecordingSmsSender,
    SqlAlchemyUnitOfWork,
    create_transfer_draft,
    execute_draft,
    issue_otp,
    transfer,
    verify_ledger,
    verify_otp,
    verify_pin,
)
from bot.wallet.models import Transfer, Wallet

from .conftest import FAST_SETTINGS, People

WORKERS = 8
RANDOM_TRANSFERS = 2_000
STRESS_WALLETS = 12
STRESS_BALANCE_FEN = 200_000


@pytest.fixture
def ledger(migrated_url):
    engine = make_engine(migrated_url, pool_size=WORKERS + 2, max_overflow=50)
    factory = make_session_factory(engine)
    yield factory
    engine.dispose()


def new_uow(factory) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(factory, settings=FAST_SETTINGS)


def balances(factory, wallet_ids) -> dict[int, int]:
    uow = new_uow(factory)
    with uow:
        return dict(uow.session.execute(select(Wallet.id, Wallet.balance_fen).where(Wallet.id.in_(wallet_ids))).all())


def count_transfers(factory, prefix: str) -> int:
    uow = new_uow(factory)
    with uow:
        return uow.session.scalar(select(func.count(Transfer.id)).where(Transfer.id.like(f"{prefix}%")))


def run_together(count: int, job):
    """Start `count` calls of job(i) at the same instant; return what each returned or raised."""
    barrier = threading.Barrier(count)

    def call(i):
        barrier.wait()
        try:
            return job(i)
        except Exception as exc:  # noqa: BLE001 — the test inspects every outcome
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


def test_eight_workers_doing_2000_random_transfers_conserve_money_and_never_overdraw(ledger):
    people = People(new_uow(ledger))
    wallets = [people.open(balance_fen=STRESS_BALANCE_FEN).wallet_id for _ in range(STRESS_WALLETS)]
    total_before = sum(balances(ledger, wallets).values())
    per_worker = RANDOM_TRANSFERS // WORKERS

    def worker(n: int) -> Counter:
        rng, uow, outcome = random.Random(n), new_uow(ledger), Counter()
        for i in range(per_worker):
            source, target = rng.sample(wallets, 2)
            try:
                transfer(uow, transfer_id=f"stress-{n}-{i}", source_wallet_id=source, target_wallet_id=target,
                         amount_fen=rng.randint(1, 60_000))
                outcome["posted"] += 1
            except InsufficientFunds:
                outcome["insufficient"] += 1
        return outcome

    outcomes = run_together(WORKERS, worker)
    for outcome in outcomes:
        assert isinstance(outcome, Counter), outcome
    total = sum(outcomes, Counter())

    after = balances(ledger, wallets)
    assert total["posted"] + total["insufficient"] == RANDOM_TRANSFERS
    assert total["posted"] > RANDOM_TRANSFERS // 2
    assert count_transfers(ledger, "stress-") == total["posted"]
    assert sum(after.values()) == total_before
    assert min(after.values()) >= 0
    verify_ledger(new_uow(ledger))


def test_fifty_concurrent_one_yuan_debits_from_ten_yuan_succeed_exactly_ten_times(ledger):
    people = People(new_uow(ledger))
    poor, sink = people.open(balance_fen=1_000).wallet_id, people.open().wallet_id

    results = run_together(50, lambda i: transfer(new_uow(ledger), transfer_id=f"debit-{i}", source_wallet_id=poor,
                                                  target_wallet_id=sink, amount_fen=100))

    succeeded = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert (len(succeeded), len(refused)) == (10, 40), [r for r in results if isinstance(r, Exception)][:3]
    assert balances(ledger, [poor, sink]) == {poor: 0, sink: 1_000}
    assert count_transfers(ledger, "debit-") == 10
    verify_ledger(new_uow(ledger))


def test_ten_concurrent_replays_of_one_idempotency_key_make_exactly_one_transfer(ledger):
    people = People(new_uow(ledger))
    alice, bob = people.open(balance_fen=10_000).wallet_id, people.open().wallet_id
    key = f"once-{uuid.uuid4().hex}"

    results = run_together(10, lambda i: transfer(new_uow(ledger), transfer_id=key, source_wallet_id=alice,
                                                  target_wallet_id=bob, amount_fen=2_500))

    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.replayed for r in results) == [False] + [True] * 9
    assert len({(r.transfer_id, r.created_at, r.source_balance_after_fen) for r in results}) == 1
    assert count_transfers(ledger, key) == 1
    assert balances(ledger, [alice, bob]) == {alice: 7_500, bob: 2_500}


def test_executing_one_confirmed_draft_from_ten_threads_moves_money_once(ledger):
    uow = new_uow(ledger)
    people = People(uow)
    alice, bob = people.open(balance_fen=1_000_000, pin="246810"), people.open()
    draft = create_transfer_draft(uow, customer_id=alice.customer_id, recipient_wallet_id=bob.wallet_id,
                                  amount_fen=30_000, channel="web")
    verify_pin(uow, customer_id=alice.customer_id, pin="246810", draft_id=draft.draft_id)
    sms = RecordingSmsSender()
    issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=draft.draft_id)
    code = next(w for w in sms.sent[-1]["text"].replace("，", " ").split() if w.isdigit() and len(w) == 6)
    verify_otp(uow, customer_id=alice.customer_id, draft_id=draft.draft_id, code=code)

    results = run_together(10, lambda i: execute_draft(new_uow(ledger), customer_id=alice.customer_id,
                                                       draft_id=draft.draft_id))

    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.replayed for r in results) == [False] + [True] * 9
    assert balances(ledger, [alice.wallet_id, bob.wallet_id]) == {alice.wallet_id: 970_000, bob.wallet_id: 30_000}


def test_concurrent_wrong_pins_lock_the_wallet_after_exactly_five(ledger):
    from bot.wallet import WalletLocked, WrongPin

    people = People(new_uow(ledger))
    alice = people.open(balance_fen=100, pin="246810")

    results = run_together(8, lambda i: verify_pin(new_uow(ledger), customer_id=alice.customer_id, pin="000000"))

    wrong = sorted(r.attempts_left for r in results if isinstance(r, WrongPin))
    locked = [r for r in results if isinstance(r, WalletLocked)]
    assert wrong == [1, 2, 3, 4] and len(locked) == 4, results
