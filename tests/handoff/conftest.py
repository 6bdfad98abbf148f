"""Fixtures for the handoff tests: a migrated database per test (SQLite, and PostgreSQL when
WALLETBOT_TEST_POSTGRES_URL names one), cheap argon2, a fixed clock."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, time

import pytest
from sqlalchemy.exc import OperationalError

from bot.db import make_engine, make_session_factory, upgrade_database, with_search_path
from bot.handoff import ChatStore
from bot.handoff.agents import add_agent, login
from bot.settings import Settings
from bot.wallet import SqlAlchemyUnitOfWork
from bot.wallet.security import BANK_TZ
from tests.conftest import service_url

POSTGRES_ENV = "WALLETBOT_TEST_POSTGRES_URL"

SETTINGS = Settings(
    secret="handoff-tests-secret-0123456789abcdef",
    pin_hash_time_cost=1,
    pin_hash_memory_kib=1024,
    pin_hash_parallelism=1,
    business_hours_start=time(9, 0),
    business_hours_end=time(21, 0),
)


def shanghai(hour: int, minute: int = 0, second: int = 0, day: int = 3) -> datetime:
    return datetime(2025, 6, day, hour, minute, second, tzinfo=BANK_TZ)


NOON = shanghai(12)


class Desk:
    """Small helpers around one database: units of work, conversations, signed-in agents."""

    def __init__(self, session_factory, settings: Settings) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.store = ChatStore(session_factory)

    def uow(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.session_factory, settings=self.settings)

    def conversation(self, customer_id: str | None = None, channel: str = "web") -> str:
        return self.store.open_conversation(channel=channel, external_id=f"v:{uuid.uuid4().hex}", customer_id=customer_id).id

    def agent(self, username: str, *, capacity: int = 3, online: bool = True, now: datetime = NOON):
        view = add_agent(self.uow(), username=username, password=f"{username}-password", display_name=username.upper(), capacity=capacity, now=now)
        if online:
            login(self.uow(), username=username, password=f"{username}-password", now=now)
        return view


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A migrated database of each kind: a SQLite file, and a private schema on the test PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'handoff.db'}"
        upgrade_database(url)
        yield url
        return
    base = service_url(POSTGRES_ENV)
    schema = f"handoff_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL is unreachable: {exc}")
    try:
        url = with_search_path(base, schema)
        upgrade_database(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def session_factory(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def settings() -> Settings:
    return SETTINGS


@pytest.fixture
def desk(session_factory, settings) -> Desk:
    return Desk(session_factory, settings)


@pytest.fixture
def with_settings(session_factory):
    """A Desk on the same database with some settings changed."""

    def make(**changes) -> Desk:
        return Desk(session_factory, replace(SETTINGS, **changes))

    return make
