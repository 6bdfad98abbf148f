"""Fixtures for the wallet tests: a migrated SQLite file per test, and a fresh PostgreSQL schema per
test when WALLETBOT_TEST_POSTGRES_URL names a server (unset: those tests skip; set but unreachable:
they fail)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy.exc import OperationalError

from bot.db import make_engine, make_session_factory, normalize_url, upgrade_database, with_search_path
from bot.settings import Settings
from bot.wallet import SqlAlchemyUnitOfWork, open_customer, settlement_wallet_id, transfer
from bot.wallet.security import BANK_TZ

POSTGRES_ENV = "WALLETBOT_TEST_POSTGRES_URL"

# Cheap argon2 so a test run stays fast; production keeps the defaults of Settings.
FAST_SETTINGS = Settings(
    secret="wallet-tests-secret-0123456789abcdef",
    pin_hash_time_cost=1,
    pin_hash_memory_kib=1024,
    pin_hash_parallelism=1,
)


def shanghai(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BANK_TZ)


def postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return normalize_url(url)


@pytest.fixture
def settings() -> Settings:
    return FAST_SETTINGS


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'wallet.db'}"
    upgrade_database(url)
    return url


@pytest.fixture
def postgres_url():
    """A fresh, empty schema on the test server (dropped afterwards), so runs repeat cleanly and
    never touch other suites' tables."""
    base = postgres_base_url()
    schema = f"wallet_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL is unreachable: {exc}")
    try:
        yield with_search_path(base, schema)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_url(request) -> str:
    """An empty database of each kind (not migrated yet)."""
    if request.param == "sqlite":
        return f"sqlite:///{request.getfixturevalue('tmp_path') / 'wallet.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def migrated_url(any_url) -> str:
    upgrade_database(any_url)
    return any_url


@pytest.fixture
def session_factory(sqlite_url):
    engine = make_engine(sqlite_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def uow(session_factory, settings) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(session_factory, settings=settings)


@dataclass(frozen=True)
class Person:
    customer_id: str
    wallet_id: int


class People:
    """Opens customers with funded wallets: `people.open("李雷", balance_fen=10_000)` → Person."""

    def __init__(self, uow: SqlAlchemyUnitOfWork) -> None:
        self.uow = uow
        self._count = 0

    def open(self, name: str = "顾客", *, balance_fen: int = 0, pin: str = "123456", customer_id: str | None = None) -> Person:
        self._count += 1
        serial = uuid.uuid4().int % 10**8
        customer_id = customer_id or f"test-{uuid.uuid4().hex[:10]}"
        view = open_customer(
            self.uow,
            customer_id=customer_id,
            name=name,
            phone=f"19{serial:09d}",
            id_number=f"1101011990{serial:08d}",
            pin=pin,
            wallet_no=f"77{serial:014d}",
        )
        if balance_fen:
            self.fund(view.wallet_id, balance_fen)
        return Person(customer_id, view.wallet_id)

    def fund(self, wallet_id: int, amount_fen: int) -> None:
        transfer(
            self.uow,
            transfer_id=f"fund-{uuid.uuid4().hex}",
            source_wallet_id=settlement_wallet_id(self.uow),
            target_wallet_id=wallet_id,
            amount_fen=amount_fen,
            kind="topup",
        )


@pytest.fixture
def people(uow) -> People:
    return People(uow)
