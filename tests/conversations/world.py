"""The contract's demo world, restored before every case.

`seed_world(settings, template)` migrates a fresh SQLite database, seeds the demo customers
(`bot.wallet.seed_demo`) and agents (`bot.handoff.agents.seed_demo_agents`), and copies it to
`template` with SQLite's backup API. `WorldReset.reset()` then puts every table's rows back as they
were in the template — in one transaction, deleting children before parents and inserting parents
before children, for each table whose rows differ from the template's — so a case starts with the demo balances, history and saved recipients, and with no
conversations, drafts, handoffs, tickets, bindings or SMS codes. The tables are discovered from the
database itself, so a new migration needs no change here.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.db import make_engine, make_session_factory, upgrade_database
from bot.handoff.agents import seed_demo_agents
from bot.settings import Settings
from bot.wallet import SqlAlchemyUnitOfWork, seed_demo

SQLITE_TIMEOUT_S = 15.0
KEPT_TABLES = frozenset({"alembic_version"})  # the schema's own bookkeeping: the same in both


class WorldError(RuntimeError):
    """The demo world cannot be seeded or restored."""


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise WorldError(f"the conversation corpus needs a SQLite file database, not {database_url!r}")
    return Path(url.database)


def seed_world(settings: Settings, template: Path) -> None:
    """Migrate and seed the stack's database, then keep a copy of it as the template."""
    upgrade_database(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        sessions = make_session_factory(engine)
        seed_demo(SqlAlchemyUnitOfWork(sessions, settings=settings))
        seed_demo_agents(sessions, settings)
    finally:
        engine.dispose()
    source = sqlite3.connect(sqlite_path(settings.database_url), timeout=SQLITE_TIMEOUT_S)
    target = sqlite3.connect(template)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def tables_in_dependency_order(connection: sqlite3.Connection, schema: str = "main") -> list[str]:
    """Every user table, parents before the tables whose foreign keys point at them."""
    names = [
        row[0]
        for row in connection.execute(f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        if row[0] not in KEPT_TABLES
    ]
    parents = {
        name: {row[2] for row in connection.execute(f"PRAGMA {schema}.foreign_key_list({_quoted(name)})")} - {name}
        for name in names
    }
    ordered: list[str] = []
    placed: set[str] = set()
    while len(ordered) < len(names):
        ready = [name for name in names if name not in placed and parents[name] <= placed | (parents[name] - set(names))]
        if not ready:
            raise WorldError(f"foreign keys form a cycle among {sorted(set(names) - placed)}")
        ordered += ready
        placed.update(ready)
    return ordered


def cascading_children(connection: sqlite3.Connection, tables: list[str], schema: str = "main") -> dict[str, set[str]]:
    """For each table, the tables whose rows a DELETE on it changes too (ON DELETE CASCADE / SET NULL / SET DEFAULT)."""
    children: dict[str, set[str]] = {table: set() for table in tables}
    for table in tables:
        for row in connection.execute(f"PRAGMA {schema}.foreign_key_list({_quoted(table)})"):
            parent, on_delete = row[2], str(row[6]).upper()
            if parent in children and parent != table and on_delete not in ("NO ACTION", "RESTRICT"):
                children[parent].add(table)
    return children


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class WorldReset:
    """Restores the database's rows from the template; keeps one connection with the template attached."""

    def __init__(self, database: Path, template: Path) -> None:
        self._connection = sqlite3.connect(database, timeout=SQLITE_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA foreign_keys = ON")
        self._connection.execute("ATTACH DATABASE ? AS template", (str(template),))
        self.tables = tables_in_dependency_order(self._connection, "template")
        self._cascades = cascading_children(self._connection, self.tables, "template")
        live = set(tables_in_dependency_order(self._connection, "main"))
        if live != set(self.tables):
            raise WorldError(f"the database and its template differ in tables: {sorted(live ^ set(self.tables))}")

    def reset(self) -> float:
        """Put back the demo world; returns how long it took (seconds), waiting for the lock included.

        Only the tables that differ from the template are rewritten (a case touches a few), which
        keeps the write-ahead log, and so each reset, small."""
        started = time.perf_counter()
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("PRAGMA defer_foreign_keys = ON")  # belt and braces: checked at COMMIT
            changed = self._with_cascades({table for table in self.tables if self._differs(table)})
            for table in reversed(changed):
                connection.execute(f"DELETE FROM main.{_quoted(table)}")
            for table in changed:
                connection.execute(f"INSERT INTO main.{_quoted(table)} SELECT * FROM template.{_quoted(table)}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return time.perf_counter() - started

    def _with_cascades(self, changed: set[str]) -> list[str]:
        """The changed tables plus those a DELETE on them would change, in dependency order."""
        pending = list(changed)
        while pending:
            for child in self._cascades[pending.pop()] - changed:
                changed.add(child)
                pending.append(child)
        return [table for table in self.tables if table in changed]

    def _differs(self, table: str) -> bool:
        name = _quoted(table)
        return bool(self._connection.execute(
            f"SELECT EXISTS (SELECT * FROM main.{name} EXCEPT SELECT * FROM template.{name})"
            f" OR EXISTS (SELECT * FROM template.{name} EXCEPT SELECT * FROM main.{name})"
        ).fetchone()[0])

    def close(self) -> None:
        self._connection.close()
