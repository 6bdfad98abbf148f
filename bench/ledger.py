"""Ledger throughput: committed transfers per second with 1 and 8 workers, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.ledger [--transfers 2000] [--postgres URL]

PostgreSQL runs when --postgres or WALLETBOT_TEST_POSTGRES_URL names a server; it works in a private
schema that is dropped afterwards. `run()` returns the figures as a dict for `make bench`:

    {"sqlite": {"workers_1_tps": 812.3, "workers_8_tps": 655.0, "transfers": 2000}, "postgresql": {...}}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bot.db import make_engine, make_session_factory, upgrade_database, with_search_path
from bot.settings import Settings
from bot.wallet import InsufficientFunds, SqlAlchemyUnitOfWork, open_customer, settlement_wallet_id, transfer

POSTGRES_ENV = "WALLETBOT_TEST_POSTGRES_URL"
WORKER_COUNTS = (1, 8)
BENCH_WALLETS = 16
BENCH_BALANCE_FEN = 100_000_000  # ¥1,000,000 each: transfers never run short
BENCH_SETTINGS = Settings(secret="bench-secret-0123456789abcdef0123", pin_hash_time_cost=1,
                          pin_hash_memory_kib=1024, pin_hash_parallelism=1)


def _open_wallets(factory, count: int) -> list[int]:
    uow = SqlAlchemyUnitOfWork(factory, settings=BENCH_SETTINGS)
    settlement = settlement_wallet_id(uow)
    wallets = []
    for n in range(count):
        tag = uuid.uuid4().hex[:8]
        serial = uuid.uuid4().int % 10**8
        view = open_customer(uow, customer_id=f"bench-{tag}", name="压测", phone=f"16{serial:09d}",
                             id_number=f"1101011990{serial:08d}", pin="123456", wallet_no=f"66{serial:014d}")
        transfer(uow, transfer_id=f"bench-fund-{tag}", source_wallet_id=settlement, target_wallet_id=view.wallet_id,
                 amount_fen=BENCH_BALANCE_FEN, kind="topup")
        wallets.append(view.wallet_id)
    return wallets


def _measure(factory, wallets: list[int], transfers: int, workers: int) -> float:
    per_worker = transfers // workers
    barrier = threading.Barrier(workers + 1)
    run_id = uuid.uuid4().hex[:8]
    failures: list[BaseException] = []

    def work(n: int) -> None:
        rng, uow = random.Random(n), SqlAlchemyUnitOfWork(factory, settings=BENCH_SETTINGS)
        barrier.wait()
        try:
            for i in range(per_worker):
                source, target = rng.sample(wallets, 2)
                try:
                    transfer(uow, transfer_id=f"bench-{run_id}-{n}-{i}", source_wallet_id=source,
                             target_wallet_id=target, amount_fen=rng.randint(1, 10_000))
                except InsufficientFunds:
                    pass
        except BaseException as exc:  # noqa: BLE001 — reported after the run
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return round(per_worker * workers / elapsed, 1)


def _bench(url: str, transfers: int) -> dict:
    upgrade_database(url)
    engine = make_engine(url, pool_size=max(WORKER_COUNTS) + 2, max_overflow=4)
    try:
        factory = make_session_factory(engine)
        wallets = _open_wallets(factory, BENCH_WALLETS)
        figures = {f"workers_{w}_tps": _measure(factory, wallets, transfers, w) for w in WORKER_COUNTS}
    finally:
        engine.dispose()
    return {**figures, "transfers": transfers}


def bench_sqlite(transfers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="walletbot-bench-") as folder:
        return _bench(f"sqlite:///{Path(folder) / 'ledger.db'}", transfers)


def bench_postgres(url: str, transfers: int) -> dict:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            return _bench(with_search_path(url, schema), transfers)
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


def run(transfers: int = 2_000, postgres_url: str | None = None) -> dict:
    results = {"sqlite": bench_sqlite(transfers)}
    if postgres_url:
        results["postgresql"] = bench_postgres(postgres_url, transfers)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=2_000, help="transfers per measurement (default 2000)")
    parser.add_argument("--postgres", default=os.environ.get(POSTGRES_ENV, ""), help="PostgreSQL URL (optional)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = run(args.transfers, args.postgres or None)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"ledger transfers per second ({args.transfers} transfers per run)")
    for backend, figures in results.items():
        line = "  ".join(f"{w} worker{'s' if w > 1 else ''}: {figures[f'workers_{w}_tps']:>8.1f}/s" for w in WORKER_COUNTS)
        print(f"  {backend:<10} {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
