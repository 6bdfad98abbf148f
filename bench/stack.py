"""A private stack for the benchmark: gateway, Rasa and action server on free ports, a fresh SQLite.

The demo customers keep one conversation each (a customer has one web conversation), so N simulated
customers cannot all be 张三. Each simulated customer gets a bench customer of their own, modelled on
a demo one: the odd ones like 张三 (PIN 246810, saved recipient 李四), the even ones like 李四
(PIN 135790, saved recipient 张三), each with ¥10,000 and production-cost PIN hashes.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from sqlalchemy.engine import make_url

from bot.db import make_engine, make_session_factory, normalize_url, upgrade_database, with_search_path
from bot.runner import Stack
from bot.settings import Settings, load_settings
from bot.wallet import (
    SqlAlchemyUnitOfWork,
    get_customer,
    open_customer,
    save_recipient,
    seed_demo,
    settlement_wallet_id,
    transfer,
)

BENCH_SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuv"
BENCH_BALANCE_FEN = 1_000_000  # ¥10,000: small transfers never run short
RATE_LIMIT_LIFTED_PER_MIN = 1_000_000
SCALED_STARTUP_TIMEOUT_S = 480.0  # two Rasa servers load their models side by side
MODELS = (  # (demo customer it is modelled on, PIN, saved recipient's demo id, alias)
    ("demo-zhangsan", "246810", "demo-lisi", "李四"),
    ("demo-lisi", "135790", "demo-zhangsan", "张三"),
)


@dataclass(frozen=True)
class BenchCustomer:
    customer_id: str
    pin: str
    recipient: str  # the alias the transfer message names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_customers(count: int) -> list[BenchCustomer]:
    return [
        BenchCustomer(f"bench-u{n:03d}", MODELS[(n - 1) % 2][1], MODELS[(n - 1) % 2][3]) for n in range(1, count + 1)
    ]


def prepare_database(settings: Settings, customers: list[BenchCustomer], *, demo: bool = True) -> None:
    """Migrate and seed the demo data (`demo`), or open the bench customers with money and a saved recipient."""
    engine = make_engine(settings.database_url)
    try:
        factory = make_session_factory(engine)

        def uow() -> SqlAlchemyUnitOfWork:
            return SqlAlchemyUnitOfWork(factory, settings=settings)

        if demo:
            upgrade_database(settings.database_url)
            seed_demo(uow())
            return
        settlement = settlement_wallet_id(uow())
        recipients = {demo_id: get_customer(uow(), demo_id).wallet_id for demo_id in ("demo-zhangsan", "demo-lisi")}
        for n, customer in enumerate(customers, start=1):
            _, _, recipient_id, alias = MODELS[(n - 1) % 2]
            view = open_customer(
                uow(), customer_id=customer.customer_id, name=f"压测{n:03d}", phone=f"170{n:08d}",
                id_number=f"11010119900101{n:04d}", pin=customer.pin, wallet_no=f"6699{n:012d}",
            )
            transfer(uow(), transfer_id=f"bench-fund-{customer.customer_id}", source_wallet_id=settlement,
                     target_wallet_id=view.wallet_id, amount_fen=BENCH_BALANCE_FEN, kind="topup")
            save_recipient(uow(), customer_id=customer.customer_id, wallet_id=recipients[recipient_id], alias=alias)
    finally:
        engine.dispose()


def bench_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "WALLETBOT_PORT": str(free_port()),
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{workdir / 'walletbot.db'}",
        "WALLETBOT_SECRET": BENCH_SECRET,
        "PYTHONUNBUFFERED": "1",
        # Every simulated customer comes from 127.0.0.1 and thinks faster than a person: the rate
        # limits (still in the path) would measure themselves. The abuse tests cover them.
        "WALLETBOT_RATE_LIMIT_IP_PER_MIN": str(RATE_LIMIT_LIFTED_PER_MIN),
        "WALLETBOT_RATE_LIMIT_CUSTOMER_PER_MIN": str(RATE_LIMIT_LIFTED_PER_MIN),
    }
    for name in ("TRACKER_STORE_URL", "LOCK_STORE_URL", "RASA_URL", "RASA_URLS", "ACTIONS_URL",
                 "TELEGRAM_TOKEN", "WECHAT_TOKEN"):
        env.pop(name, None)
    env.update(extra or {})
    return env


def start_stack(workdir: Path, customers: list[BenchCustomer]) -> Stack:
    env = bench_env(workdir)
    settings = load_settings(env)
    prepare_database(settings, customers)
    stack = Stack(settings, env=env, log_dir=workdir / "log")
    stack.start()
    try:
        prepare_database(settings, customers, demo=False)  # while Rasa loads its model
        stack.wait_healthy()
    except BaseException:
        stack.stop()
        raise
    return stack


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _cpu_s(pid: int, children: list) -> float:
    """CPU seconds (user + system) the process and its live children have used so far."""
    total = 0.0
    for process in [psutil.Process(pid), *children]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def cpu_seconds(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process and its live children."""
    seconds = {}
    for name, pid in processes.items():
        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            children = []
        seconds[name] = _cpu_s(pid, children)
    return seconds


def peak_memory_mib(processes: dict[str, int]) -> dict[str, dict]:
    """Peak resident memory (VmHWM) of each named process and of the processes it started, and the
    CPU seconds they used."""
    peaks: dict[str, dict] = {}
    for name, pid in processes.items():
        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            children = []
        own = _vm_hwm_kib(pid) / 1024
        extra = sum(_vm_hwm_kib(child.pid) for child in children) / 1024
        peaks[name] = {"pid": pid, "peak_mib": round(own, 1), "children": len(children),
                       "children_peak_mib": round(extra, 1), "cpu_s": round(_cpu_s(pid, children), 1)}
    return peaks


@dataclass
class ScaledDatabases:
    """A fresh ledger schema and tracker database on the PostgreSQL server, dropped by `drop()`."""

    postgres_url: str
    run: str

    @property
    def schema(self) -> str:
        return f"bench_scaled_{self.run}"

    @property
    def tracker_db(self) -> str:
        return f"walletbot_bench_tracker_{self.run}"

    def _admin(self):
        from sqlalchemy import create_engine

        return create_engine(normalize_url(self.postgres_url), isolation_level="AUTOCOMMIT")

    def _admin_sql(self, *statements: str) -> None:
        admin = self._admin()
        try:
            with admin.connect() as connection:
                for statement in statements:
                    connection.exec_driver_sql(statement)
        finally:
            admin.dispose()

    def create(self) -> None:
        self._admin_sql(f'CREATE SCHEMA "{self.schema}"', f'CREATE DATABASE "{self.tracker_db}"')

    def drop(self) -> None:
        self._admin_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE',
                        f'DROP DATABASE IF EXISTS "{self.tracker_db}" WITH (FORCE)')

    def drop_quietly(self) -> None:
        try:
            self.drop()
        except Exception:  # noqa: BLE001 - the server may be the very thing that is missing
            pass

    def env(self, redis_url: str) -> dict[str, str]:
        tracker = make_url(normalize_url(self.postgres_url)).set(drivername="postgresql", database=self.tracker_db, query={})
        return {
            "DATABASE_URL": with_search_path(self.postgres_url, self.schema),
            "TRACKER_STORE_URL": tracker.render_as_string(hide_password=False),
            "LOCK_STORE_URL": redis_url,
        }


def check_redis(url: str) -> None:
    """Raises when Redis at `url` does not answer PING (the scaled layout's lock store)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    finally:
        client.close()


def start_scaled_stack(workdir: Path, customers: list[BenchCustomer], databases: ScaledDatabases, redis_url: str,
                       replicas: int = 2) -> Stack:
    """The `make run-scaled` layout on free ports: `replicas` Rasa servers, PostgreSQL, Redis."""
    ports = [free_port() for _ in range(replicas)]
    env = bench_env(workdir, {
        **databases.env(redis_url),
        "RASA_PORT": str(ports[0]),
        "RASA_URLS": ",".join(f"http://127.0.0.1:{port}" for port in ports),
    })
    settings = load_settings(env)
    prepare_database(settings, customers)
    stack = Stack(settings, env=env, log_dir=workdir / "log")
    stack.start()
    try:
        prepare_database(settings, customers, demo=False)
        stack.wait_healthy(timeout_s=SCALED_STARTUP_TIMEOUT_S)
    except BaseException:
        stack.stop()
        raise
    return stack
