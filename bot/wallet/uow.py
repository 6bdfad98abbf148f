"""The unit of work: one database transaction per `with uow:` block.

Nothing is saved unless the block calls `uow.commit()`; leaving the block (normally or by an
exception) rolls back whatever was not committed. The unit of work also carries the settings the
services read (limits, TTLs, hashing costs), so tests hand in their own instead of patching.

A unit of work is one transaction at a time: give each thread (each request) its own instance;
they share the session factory and its connection pool.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings, get_settings
from bot.wallet.models import TransferDraft, Wallet


class UnitOfWork(Protocol):
    settings: Settings
    session: Session

    def __enter__(self) -> "UnitOfWork": ...

    def __exit__(self, *exc_info) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def lock_wallets(self, wallet_ids: Iterable[int]) -> dict[int, Wallet]: ...

    def lock_draft(self, draft_id: str) -> TransferDraft | None: ...


class SqlAlchemyUnitOfWork:
    def __init__(
        self, session_factory: sessionmaker[Session] | None = None, *, settings: Settings | None = None, read_only: bool = False
    ):
        if session_factory is None:
            from bot.db import get_session_factory

            session_factory = get_session_factory()
        self._session_factory = session_factory
        self.settings = settings or get_settings()
        self._session: Session | None = None
        self.read_only = read_only  # a transaction that only reads: on SQLite it never takes the write lock

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work inside `with uow:`")
        return self._session

    def __enter__(self) -> "SqlAlchemyUnitOfWork":
        if self._session is not None:
            raise RuntimeError("this unit of work is already open; it does not nest")
        if self.read_only:
            from bot.db import read_only_session

            self._session = read_only_session(self._session_factory)
        else:
            self._session = self._session_factory()
        return self

    def __exit__(self, *exc_info) -> None:
        session, self._session = self._session, None
        try:
            session.rollback()
        finally:
            session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def lock_wallets(self, wallet_ids: Iterable[int]) -> dict[int, Wallet]:
        """Row-lock the wallets in ascending id order (so two transfers never deadlock) and reload them.

        On PostgreSQL this is `SELECT … FOR UPDATE ORDER BY id`; SQLite has no row locks, but every
        transaction there began with BEGIN IMMEDIATE and already holds the database's write lock.
        """
        ids = sorted(set(wallet_ids))
        rows = self.session.scalars(
            select(Wallet)
            .where(Wallet.id.in_(ids))
            .order_by(Wallet.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        return {wallet.id: wallet for wallet in rows}

    def lock_draft(self, draft_id: str) -> TransferDraft | None:
        return self.session.scalars(
            select(TransferDraft)
            .where(TransferDraft.id == draft_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
