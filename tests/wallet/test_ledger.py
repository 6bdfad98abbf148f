"""The core posting: money moves exactly once, balanced, never below zero."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.wallet import (
    AmountInvalid,
    InsufficientFunds,
    LedgerCorrupted,
    RecipientNotFound,
    SameWallet,
    TransferIdReused,
    WalletFrozen,
    WalletLocked,
    WalletNotFound,
    WrongPin,
    audit_entries,
    freeze_wallet,
    get_balance,
    total_balance_fen,
    transfer,
    verify_ledger,
    verify_pin,
)
from bot.wallet.models import Posting, Transfer, Wallet


def balance(uow, wallet_id: int) -> int:
    with uow:
        return uow.session.get(Wallet, wallet_id).balance_fen


def test_a_transfer_moves_money_and_writes_two_postings_that_sum_to_zero(uow, people):
    alice, bob = people.open("李雷", balance_fen=10_000), people.open("韩梅梅")

    view = transfer(uow, transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id,
                    amount_fen=2_500, memo="午饭")

    assert (view.source_balance_after_fen, view.target_balance_after_fen, view.replayed) == (7_500, 2_500, False)
    assert balance(uow, alice.wallet_id) == 7_500 and balance(uow, bob.wallet_id) == 2_500
    with uow:
        deltas = uow.session.scalars(select(Posting.delta_fen).where(Posting.transfer_id == "t-1")).all()
    assert sorted(deltas) == [-2_500, 2_500]
    verify_ledger(uow)


def test_replaying_a_transfer_with_the_same_fields_returns_the_original_and_moves_nothing(uow, people):
    alice, bob = people.open(balance_fen=10_000), people.open()
    fields = dict(transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id, amount_fen=1_000)
    first = transfer(uow, **fields)

    again = transfer(uow, **fields)

    assert again.replayed and not first.replayed
    assert (again.created_at, again.source_balance_after_fen) == (first.created_at, first.source_balance_after_fen)
    assert balance(uow, alice.wallet_id) == 9_000
    with uow:
        assert uow.session.scalar(select(func.count(Transfer.id)).where(Transfer.id == "t-1")) == 1


@pytest.mark.parametrize("change", [{"amount_fen": 1_001}, {"memo": "别的"}, {"kind": "payment"}, {"swap": True}])
def test_reusing_a_transfer_id_for_different_details_is_refused(uow, people, change):
    alice, bob = people.open(balance_fen=10_000), people.open(balance_fen=10_000)
    fields = dict(transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id, amount_fen=1_000)
    transfer(uow, **fields)
    if change.pop("swap", False):
        change = {"source_wallet_id": bob.wallet_id, "target_wallet_id": alice.wallet_id}

    with pytest.raises(TransferIdReused):
        transfer(uow, **{**fields, **change})
    assert balance(uow, alice.wallet_id) == 9_000


def test_a_transfer_larger_than_the_balance_is_rejected_and_nothing_moves(uow, people):
    alice, bob = people.open(balance_fen=500), people.open()

    with pytest.raises(InsufficientFunds) as caught:
        transfer(uow, transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id, amount_fen=600)

    assert (caught.value.balance_fen, caught.value.amount_fen) == (500, 600)
    assert balance(uow, alice.wallet_id) == 500 and balance(uow, bob.wallet_id) == 0
    with uow:
        assert uow.session.get(Transfer, "t-1") is None


def test_the_whole_balance_can_be_sent_leaving_exactly_zero(uow, people):
    alice, bob = people.open(balance_fen=500), people.open()
    transfer(uow, transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id, amount_fen=500)
    assert balance(uow, alice.wallet_id) == 0


@pytest.mark.parametrize("amount", [0, -1, 1.5, "100", True, None, 10**14])
def test_an_amount_that_is_not_a_positive_whole_number_of_fen_is_rejected(uow, people, amount):
    alice, bob = people.open(balance_fen=500), people.open()
    with pytest.raises(AmountInvalid):
        transfer(uow, transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id, amount_fen=amount)


def test_a_transfer_to_the_same_wallet_is_rejected(uow, people):
    alice = people.open(balance_fen=500)
    with pytest.raises(SameWallet):
        transfer(uow, transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=alice.wallet_id, amount_fen=1)


def test_unknown_wallets_are_named_precisely(uow, people):
    alice = people.open(balance_fen=500)
    with pytest.raises(RecipientNotFound):
        transfer(uow, transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=99_999, amount_fen=1)
    with pytest.raises(WalletNotFound):
        transfer(uow, transfer_id="t-2", source_wallet_id=99_999, target_wallet_id=alice.wallet_id, amount_fen=1)


def test_a_frozen_wallet_cannot_send_but_can_still_receive(uow, people):
    alice, bob = people.open(balance_fen=500), people.open(balance_fen=500)
    freeze_wallet(uow, customer_id=alice.customer_id, reason="fraud_report", actor="agent1")

    with pytest.raises(WalletFrozen):
        transfer(uow, transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id, amount_fen=1)
    transfer(uow, transfer_id="t-2", source_wallet_id=bob.wallet_id, target_wallet_id=alice.wallet_id, amount_fen=100)
    assert get_balance(uow, alice.customer_id).status == "frozen"
    assert balance(uow, alice.wallet_id) == 600
    entry = audit_entries(uow, target=alice.customer_id)[0]
    assert (entry["actor"], entry["action"], entry["details"]["reason"]) == ("agent1", "wallet_frozen", "fraud_report")


def test_a_locked_wallet_cannot_send(uow, people):
    alice, bob = people.open(balance_fen=500, pin="111111"), people.open()
    for _ in range(5):
        try:
            verify_pin(uow, customer_id=alice.customer_id, pin="000000")
        except (WrongPin, WalletLocked):
            pass
    with pytest.raises(WalletLocked):
        transfer(uow, transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id, amount_fen=1)


def test_the_database_itself_refuses_a_negative_customer_balance(uow, people):
    alice = people.open(balance_fen=500)
    with uow:
        uow.session.get(Wallet, alice.wallet_id).balance_fen = -1
        with pytest.raises(Exception) as caught:
            uow.commit()
    assert "balance_not_negative" in str(caught.value) or "CHECK" in str(caught.value)
    assert balance(uow, alice.wallet_id) == 500


def test_transfers_between_customers_conserve_the_total(uow, people):
    wallets = [people.open(balance_fen=10_000) for _ in range(3)]
    before = total_balance_fen(uow)
    for n, (a, b) in enumerate([(0, 1), (1, 2), (2, 0), (0, 2)]):
        transfer(uow, transfer_id=f"t-{n}", source_wallet_id=wallets[a].wallet_id,
                 target_wallet_id=wallets[b].wallet_id, amount_fen=1_234 * (n + 1))
    assert total_balance_fen(uow) == before
    report = verify_ledger(uow)
    assert report.customer_total_fen == before


def test_a_balance_that_drifts_from_its_postings_is_reported_as_corruption(uow, people):
    alice = people.open(balance_fen=500)
    with uow:
        uow.session.get(Wallet, alice.wallet_id).balance_fen = 400
        uow.commit()
    with pytest.raises(LedgerCorrupted):
        verify_ledger(uow)


def test_a_customer_who_froze_the_wallet_after_reporting_fraud_is_told_so_when_sending(uow, people):
    from bot.wallet import CUSTOMER_FRAUD_REPORT, describe

    alice, bob = people.open(balance_fen=500), people.open()
    freeze_wallet(uow, customer_id=alice.customer_id, reason=CUSTOMER_FRAUD_REPORT, actor=f"customer:{alice.customer_id}")
    with pytest.raises(WalletFrozen) as refused:
        transfer(uow, transfer_id="t-1", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id, amount_fen=1)
    assert "您报告了可疑交易" in describe(refused.value) and "安全原因" not in describe(refused.value)
