"""The demo customers of the contract, with two months of history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.wallet import (
    get_balance,
    get_customer,
    last_transaction,
    list_transactions,
    resolve_recipient,
    seed_demo,
    verify_ledger,
    verify_pin,
)
from bot.wallet.models import SavedRecipient, Transfer
from bot.wallet.security import local_day_start

from .conftest import shanghai

NOW = shanghai(2026, 4, 15, 16, 30)
CONTRACT = {"demo-zhangsan": (1_234_567, "246810"), "demo-lisi": (50_000, "135790"), "demo-wangwu": (0, "112233")}


@pytest.fixture
def seeded(uow):
    assert seed_demo(uow, now=NOW) is True
    return uow


def test_the_demo_customers_have_exactly_the_contract_balances(seeded):
    for customer_id, (balance_fen, _) in CONTRACT.items():
        view = get_balance(seeded, customer_id, now=NOW)
        assert (view.balance_fen, view.status) == (balance_fen, "active")


def test_the_demo_pins_are_the_contract_pins(seeded):
    for customer_id, (_, pin) in CONTRACT.items():
        verify_pin(seeded, customer_id=customer_id, pin=pin, now=NOW)


def test_seeding_twice_changes_nothing(seeded):
    with seeded:
        before = seeded.session.scalar(select(func.count(Transfer.id)))
    assert seed_demo(seeded, now=NOW + timedelta(days=3)) is False
    with seeded:
        assert seeded.session.scalar(select(func.count(Transfer.id))) == before
    assert get_balance(seeded, "demo-zhangsan").balance_fen == 1_234_567


def test_the_history_is_real_balanced_journal_entries(seeded):
    report = verify_ledger(seeded)
    assert report.transfers > 100 and report.postings == 2 * report.transfers


def test_the_history_covers_two_months_and_ends_today(seeded):
    today = local_day_start(NOW)
    recent = list_transactions(seeded, "demo-zhangsan", today, NOW + timedelta(seconds=1), limit=5)
    assert recent.count >= 1
    last_month = list_transactions(seeded, "demo-zhangsan", shanghai(2026, 3, 1, 0, 0), shanghai(2026, 4, 1, 0, 0), limit=50)
    kinds = {item.memo for item in last_month.items}
    assert {"外卖订单", "超市购物", "话费充值", "电费", "生活费"} <= kinds
    assert last_month.total_out_fen > 0 and last_month.total_in_fen > 0
    earliest = list_transactions(seeded, "demo-zhangsan", shanghai(2026, 2, 1, 0, 0), shanghai(2026, 2, 20, 0, 0))
    assert earliest.count > 0


def test_history_items_are_newest_first_and_signed(seeded):
    view = list_transactions(seeded, "demo-zhangsan", NOW - timedelta(days=30), NOW, limit=10)
    assert len(view.items) == 10 and view.count > 10
    assert [item.at for item in view.items] == sorted((item.at for item in view.items), reverse=True)
    assert any(item.amount_fen < 0 for item in view.items)


def test_the_totals_of_a_period_add_up_its_items(seeded):
    view = list_transactions(seeded, "demo-lisi", NOW - timedelta(days=30), NOW, limit=50)
    assert 0 < view.count <= 50 and len(view.items) == view.count
    assert view.total_out_fen == -sum(item.amount_fen for item in view.items if item.amount_fen < 0)
    assert view.total_in_fen == sum(item.amount_fen for item in view.items if item.amount_fen > 0)


def test_counterparties_read_as_people_and_shops(seeded):
    view = list_transactions(seeded, "demo-zhangsan", NOW - timedelta(days=60), NOW, limit=50)
    names = {item.counterparty for item in view.items}
    assert "美团外卖" in names and ("妈妈" in names or "华润万家超市" in names)


def test_wangwus_last_transaction_emptied_the_wallet(seeded):
    item = last_transaction(seeded, "demo-wangwu")
    assert item is not None and item.amount_fen < 0


def test_each_demo_customer_has_a_card_and_two_to_four_saved_recipients(seeded):
    for customer_id in CONTRACT:
        customer = get_customer(seeded, customer_id)
        assert len(customer.cards) == 1 and len(customer.cards[0].last4) == 4
        with seeded:
            saved = seeded.session.scalar(
                select(func.count(SavedRecipient.id)).where(SavedRecipient.customer_id == customer_id))
        assert 2 <= saved <= 4


def test_zhangsan_finds_lisi_by_a_homophone_and_his_mother_by_alias(seeded):
    lisi = get_customer(seeded, "demo-lisi")
    assert [c.wallet_id for c in resolve_recipient(seeded, "demo-zhangsan", "李思")] == [lisi.wallet_id]
    assert resolve_recipient(seeded, "demo-zhangsan", "妈妈")[0].name == "妈妈"


def test_the_demo_customers_personal_numbers_are_masked(seeded):
    customer = get_customer(seeded, "demo-zhangsan")
    assert (customer.name, customer.masked_name, customer.phone_masked) == ("张三", "*三", "138****5678")
    assert customer.wallet_no_masked == "****1001"
