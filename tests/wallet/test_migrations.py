"""The migrations build the schema from nothing, on SQLite and on PostgreSQL, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.config import Config
from sqlalchemy import inspect

from bot.db import MIGRATIONS_DIR, Base, downgrade_database, make_engine, upgrade_database
from bot.wallet import SqlAlchemyUnitOfWork, settlement_wallet_id, total_balance_fen
from bot.db import make_session_factory

from .conftest import FAST_SETTINGS

WALLET_TABLES = {
    "customers", "wallets", "bank_cards", "saved_recipients", "transfers", "postings", "transfer_drafts",
    "otp_challenges", "sms_outbox", "audit_log",
}


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_upgrading_an_empty_database_creates_the_wallet_schema_at_head(any_url):
    upgrade_database(any_url)
    engine = make_engine(any_url)
    try:
        assert WALLET_TABLES <= set(inspect(engine).get_table_names())
        assert current_revision(engine) == head_revision()
        uow = SqlAlchemyUnitOfWork(make_session_factory(engine), settings=FAST_SETTINGS)
        assert settlement_wallet_id(uow) > 0 and total_balance_fen(uow) == 0
    finally:
        engine.dispose()


def test_upgrading_twice_is_harmless(any_url):
    upgrade_database(any_url)
    upgrade_database(any_url)
    engine = make_engine(any_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_the_migrated_wallet_schema_matches_the_models(any_url):
    import bot.wallet.models  # noqa: F401

    upgrade_database(any_url)
    engine = make_engine(any_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diffs = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()

    def table_of(diff) -> str | None:
        op = diff[0] if isinstance(diff, list) else diff
        for part in op[1:]:
            name = getattr(part, "name", None) if not isinstance(part, str) else part
            table = getattr(part, "table", None)
            if table is not None:
                return table.name
            if name in WALLET_TABLES:
                return name
        return None

    wallet_diffs = [d for d in diffs if table_of(d) in WALLET_TABLES]
    assert wallet_diffs == []


def test_the_wallet_migration_downgrades_and_upgrades_again(sqlite_url):
    downgrade_database(sqlite_url, "base")
    engine = make_engine(sqlite_url)
    try:
        assert not WALLET_TABLES & set(inspect(engine).get_table_names())
        upgrade_database(sqlite_url)
        assert WALLET_TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_run_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'wallet.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    try:
        assert "wallets" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
