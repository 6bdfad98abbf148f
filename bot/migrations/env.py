"""Alembic environment for walletbot.

Run through `bot.db.upgrade_database(url)`, which passes the URL in `config.attributes`; the engine
comes from `bot.db.make_engine`, so SQLite gets the same pragmas and BEGIN IMMEDIATE as the app.
"""

from __future__ import annotations

import importlib

from alembic import context

from bot.db import Base, make_engine, normalize_url
from bot.settings import get_settings

import bot.wallet.models  # noqa: F401  (registers the wallet tables on Base.metadata)

for _optional in ("bot.handoff.models", "bot.binding", "bot.dedupe"):
    try:
        importlib.import_module(_optional)
    except ModuleNotFoundError as exc:
        if exc.name is None or not _optional.startswith(exc.name):
            raise

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return normalize_url(
        config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url") or get_settings().database_url
    )


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
