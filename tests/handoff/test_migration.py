"""Migration 0004 builds exactly the handoff tables the models describe, and downgrades cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import bot.handoff.models  # noqa: F401
from bot.db import Base, downgrade_database, make_engine, upgrade_database

HANDOFF_TABLES = {"agents", "agent_sessions", "handoffs", "handoff_notes", "tickets"}


def _table(diff) -> str | None:
    op = diff[0] if isinstance(diff, list) else diff
    for part in op[1:]:
        table = getattr(part, "table", None)
        if table is not None:
            return table.name
        name = part if isinstance(part, str) else getattr(part, "name", None)
        if name in HANDOFF_TABLES:
            return name
    return None


def test_the_migrated_handoff_schema_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if _table(d) in HANDOFF_TABLES] == []


def test_the_handoff_migration_downgrades_to_0003_and_upgrades_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url)
    downgrade_database(url, "0003")
    engine = make_engine(url)
    try:
        assert not HANDOFF_TABLES & set(inspect(engine).get_table_names())
        upgrade_database(url)
        assert HANDOFF_TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
