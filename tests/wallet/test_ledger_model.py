"""A hypothesis state machine drives the ledger on SQLite with random transfers, replays and reused
ids, and after every step checks it against a model: balances, conservation, no negative balance."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import select

from bot.wallet import (
    AmountInvalid,
    InsufficientFunds,
    SameWallet,
    TransferIdReused,
    transfer,
    verify_ledger,
)
from bot.wallet.models import Wallet


def test_the_ledger_keeps_its_invariants_under_any_sequence_of_transfers(uow, people):
    class LedgerMachine(RuleBasedStateMachine):
        @initialize(balances=st.lists(st.integers(0, 30_000), min_size=2, max_size=4))
        def open_wallets(self, balances):
            self.wallets = [people.open(balance_fen=b).wallet_id for b in balances]
            self.expected = dict(zip(self.wallets, balances))
            self.total = sum(balances)
            self.posted: dict[str, dict] = {}

        @rule(sender=st.integers(0, 3), receiver=st.integers(0, 3), amount=st.integers(-100, 40_000))
        def send(self, sender, receiver, amount):
            source, target = self.wallets[sender % len(self.wallets)], self.wallets[receiver % len(self.wallets)]
            fields = dict(transfer_id=f"h-{uuid.uuid4().hex}", source_wallet_id=source, target_wallet_id=target,
                          amount_fen=amount)
            try:
                view = transfer(uow, **fields)
            except AmountInvalid:
                assert amount <= 0
                return
            except SameWallet:
                assert source == target
                return
            except InsufficientFunds:
                assert amount > self.expected[source]
                return
            assert 0 < amount <= self.expected[source] and source != target and not view.replayed
            self.expected[source] -= amount
            self.expected[target] += amount
            self.posted[fields["transfer_id"]] = fields

        @precondition(lambda self: self.posted)
        @rule(data=st.data())
        def replay(self, data):
            fields = data.draw(st.sampled_from(sorted(self.posted.values(), key=lambda f: f["transfer_id"])))
            view = transfer(uow, **fields)
            assert view.replayed and view.amount_fen == fields["amount_fen"]

        @precondition(lambda self: self.posted)
        @rule(data=st.data(), extra=st.integers(1, 100))
        def reuse_an_id_for_another_amount(self, data, extra):
            fields = data.draw(st.sampled_from(sorted(self.posted.values(), key=lambda f: f["transfer_id"])))
            try:
                transfer(uow, **{**fields, "amount_fen": fields["amount_fen"] + extra})
            except TransferIdReused:
                return
            raise AssertionError("a reused transfer id was accepted")

        @invariant()
        def balances_match_the_model_and_are_conserved(self):
            with uow:
                rows = dict(uow.session.execute(
                    select(Wallet.id, Wallet.balance_fen).where(Wallet.id.in_(self.wallets))).all())
            assert rows == self.expected
            assert sum(rows.values()) == self.total
            assert all(balance >= 0 for balance in rows.values())

        @invariant()
        def the_journal_balances(self):
            verify_ledger(uow)

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
