"""The unit of work: nothing is saved unless commit() is reached."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.wallet import SqlAlchemyUnitOfWork
from bot.wallet.models import AuditEntry, Posting, Transfer, utcnow
from bot.wallet.services import _post, _request


class Boom(Exception):
    pass


def count(uow, model) -> int:
    with uow:
        return uow.session.scalar(select(func.count()).select_from(model))


def test_raising_inside_the_unit_of_work_saves_no_journal_rows(uow, people):
    alice, bob = people.open(balance_fen=1_000), people.open()
    transfers_before, postings_before = count(uow, Transfer), count(uow, Posting)

    with pytest.raises(Boom):
        with uow:
            _post(uow, _request("t-1", alice.wallet_id, bob.wallet_id, 300, "transfer", ""), utcnow(),
                  enforce_limits=False)
            raise Boom()

    assert count(uow, Transfer) == transfers_before and count(uow, Posting) == postings_before


def test_leaving_the_unit_of_work_without_commit_saves_nothing(uow):
    with uow:
        uow.session.add(AuditEntry(actor="test", action="probe", target="x", details={}))
    assert count(uow, AuditEntry) == 0


def test_committed_work_is_saved(uow):
    with uow:
        uow.session.add(AuditEntry(actor="test", action="probe", target="x", details={}))
        uow.commit()
    assert count(uow, AuditEntry) == 1


def test_a_unit_of_work_does_not_nest(uow):
    with uow:
        with pytest.raises(RuntimeError):
            with uow:
                pass


def test_the_session_is_only_available_inside_the_block(session_factory, settings):
    uow = SqlAlchemyUnitOfWork(session_factory, settings=settings)
    with pytest.raises(RuntimeError):
        uow.session
