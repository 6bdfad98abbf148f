"""PostgreSQL connections dropped (`pg_terminate_backend`) while 8 threads move money.

A transfer whose connection died may or may not have committed: the caller cannot know, so it keeps
the transfer id and replays it (`transfer` is idempotent on it). After the chaos every planned id is
replayed once more: each must exist exactly once, balances must equal the opening balances plus the
plan, and the ledger must be consistent. Runs in a private schema on WALLETBOT_TEST_POSTGRES_URL
(skipped when unset, failing when set but unreachable).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.db import make_engine, make_session_factory, normalize_url, upgrade_database, with_search_path
from bot.settings import Settings
from bot.wallet import SqlAlchemyUnitOfWork, open_customer, settlement_wallet_id, total_balance_fen, transfer, verify_ledger
from bot.wallet.models import Transfer, Wallet
from tests.conftest import service_url

pytestmark = [pytest.mark.postgres]

WORKERS = 8
TRANSFERS_PER_WORKER = 40
WALLETS = 6
OPENING_FEN = 1_000_000  # far more than the plan can take out: no transfer is refused for funds
KILL_EVERY_S = 0.04
ATTEMPTS_MAX = 8
FAST = Settings(secret="chaos-test-secret-0123456789abcdefghij", pin_hash_time_cost=1, pin_hash_memory_kib=1024, pin_hash_parallelism=1)


@dataclass(frozen=True)
class Planned:
    transfer_id: str
    source: int
    target: int
    amount_fen: int


@pytest.fixture()
def chaos_db():
    """A fresh schema whose connections carry an application_name the killer can find."""
    base = normalize_url(service_url("WALLETBOT_TEST_POSTGRES_URL"))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    run = uuid.uuid4().hex[:10]
    schema, app_name = f"chaos_{run}", f"walletbot-chaos-{run}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"WALLETBOT_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}")
    url = make_url(with_search_path(base, schema)).update_query_dict({"application_name": app_name})
    try:
        yield url.render_as_string(hide_password=False), app_name, admin
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def open_wallets(uow) -> list[int]:
    wallets = []
    for n in range(WALLETS):
        view = open_customer(
            uow(), customer_id=f"chaos-{n}", name=f"顾客{n}", phone=f"1990000{n:04d}",
            id_number=f"11010119900101{n:04d}", pin="123456", wallet_no=f"7700000000{n:06d}",
        )
        transfer(uow(), transfer_id=f"fund-{n}", source_wallet_id=settlement_wallet_id(uow()),
                 target_wallet_id=view.wallet_id, amount_fen=OPENING_FEN, kind="topup")
        wallets.append(view.wallet_id)
    return wallets


def plan(wallets: list[int]) -> list[list[Planned]]:
    rng = random.Random(20241125)
    return [
        [
            Planned(f"chaos-{worker}-{n}", *rng.sample(wallets, 2), rng.randint(1, 2_000))
            for n in range(TRANSFERS_PER_WORKER)
        ]
        for worker in range(WORKERS)
    ]


def send(uow, item: Planned):
    return transfer(uow(), transfer_id=item.transfer_id, source_wallet_id=item.source, target_wallet_id=item.target, amount_fen=item.amount_fen)


def worker(uow, items: list[Planned]) -> tuple[dict[str, str], int]:
    """Send each transfer, retrying on a dropped connection: "ok" once a call returned, else "unknown";
    and how many calls failed."""
    outcome, failures = {}, 0
    for item in items:
        outcome[item.transfer_id] = "unknown"
        for _ in range(ATTEMPTS_MAX):
            try:
                send(uow, item)
                outcome[item.transfer_id] = "ok"
                break
            except DBAPIError:
                failures += 1
                time.sleep(0.01)
    return outcome, failures


def killer(admin, app_name: str, stop: threading.Event) -> int:
    killed = 0
    while not stop.is_set():
        with admin.connect() as connection:
            killed += len(connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %(name)s AND pid <> pg_backend_pid()",
                {"name": app_name},
            ).all())
        stop.wait(KILL_EVERY_S)
    return killed


def test_dropped_connections_under_concurrent_transfers_lose_and_double_nothing(chaos_db):
    url, app_name, admin = chaos_db
    upgrade_database(url)
    engine = make_engine(url, pool_size=WORKERS + 2, max_overflow=10)
    sessions = make_session_factory(engine)
    uow = lambda: SqlAlchemyUnitOfWork(sessions, settings=FAST)  # noqa: E731
    wallets = open_wallets(uow)
    total = total_balance_fen(uow())
    planned = plan(wallets)

    stop = threading.Event()
    with ThreadPoolExecutor(WORKERS + 1) as pool:
        chaos = pool.submit(killer, admin, app_name, stop)
        outcomes = list(pool.map(lambda items: worker(uow, items), planned))
        stop.set()
        killed = chaos.result()
    outcome = {k: v for part, _ in outcomes for k, v in part.items()}
    failures = sum(count for _, count in outcomes)
    assert killed >= 3 and failures >= 1, f"the chaos never struck ({killed} connections terminated, {failures} calls failed)"

    # Replay every id: what returned "ok" must already be there; what never returned lands now.
    replays = {item.transfer_id: send(uow, item).replayed for items in planned for item in items}
    lost = [tid for tid, status in outcome.items() if status == "ok" and not replays[tid]]
    assert lost == []

    items = [item for part in planned for item in part]
    expected = Counter({wallet: OPENING_FEN for wallet in wallets})
    for item in items:
        expected[item.source] -= item.amount_fen
        expected[item.target] += item.amount_fen
    with uow() as unit:
        actual = dict(unit.session.execute(select(Wallet.id, Wallet.balance_fen).where(Wallet.id.in_(wallets))).all())
        chaos_transfers = unit.session.scalar(select(func.count(Transfer.id)).where(Transfer.id.like("chaos-%")))
    assert chaos_transfers == len(items)
    assert actual == dict(expected)
    assert total_balance_fen(uow()) == total
    verify_ledger(uow())
    engine.dispose()
