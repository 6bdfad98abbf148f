"""Who the customer means: saved names (fuzzy, by sound), phone numbers, wallet numbers."""

from __future__ import annotations

import pytest

from bot.wallet import CustomerNotFound, resolve_recipient, save_recipient
from bot.wallet.recipients import NameEntry, name_score, rank_names


@pytest.fixture
def book(uow, people):
    """张三 has saved 李四, 李思 (a different person who sounds the same), 妈妈 (张桂兰) and 王五."""
    me = people.open("张三")
    saved = {}
    for name, alias in (("李四", "李四"), ("李思", "李思"), ("张桂兰", "妈妈"), ("王五", "王五")):
        saved[alias] = people.open(name)
        save_recipient(uow, customer_id=me.customer_id, wallet_id=saved[alias].wallet_id, alias=alias)
    return me, saved


@pytest.mark.parametrize(
    ("query", "name", "at_least", "at_most"),
    [
        ("张三", "张三", 100, 100),
        ("张叁", "张三", 95, 95),  # same sound, other character
        ("张山", "张三", 90, 90),  # fuzzy pinyin: shan / san
        ("刘样", "刘洋", 95, 95),
        ("lisi", "李四", 90, 90),  # typed in pinyin
        ("张 三", "张三", 100, 100),
        ("赵六", "小刘", 0, 59),
        ("张叁", "张桂兰", 0, 59),
        ("王五", "李四", 0, 59),
    ],
)
def test_a_name_scores_by_its_characters_and_by_its_sound(query, name, at_least, at_most):
    assert at_least <= name_score(query, name) <= at_most


def test_a_clear_winner_is_returned_alone_and_close_ones_together():
    entries = [NameEntry(1, ("李四",)), NameEntry(2, ("王五",)), NameEntry(3, ("李思",))]
    assert [m.key for m in rank_names("王五", entries)] == [2]
    assert [m.key for m in rank_names("李四", entries)] == [1, 3]
    assert rank_names("赵六", entries) == []


def test_a_homophone_of_a_saved_recipient_finds_them(uow, book, people):
    me, saved = book
    candidates = resolve_recipient(uow, me.customer_id, "王武")
    assert [c.wallet_id for c in candidates] == [saved["王五"].wallet_id]
    assert candidates[0].saved and candidates[0].name == "王五" and candidates[0].display_masked.startswith("*五 ****")


def test_two_recipients_that_sound_alike_are_both_offered_exact_first(uow, book):
    me, saved = book
    candidates = resolve_recipient(uow, me.customer_id, "李四")
    assert [c.wallet_id for c in candidates] == [saved["李四"].wallet_id, saved["李思"].wallet_id]
    assert candidates[0].score == 100 and candidates[1].score == 95


def test_an_alias_and_the_real_name_both_find_a_saved_recipient(uow, book):
    me, saved = book
    assert resolve_recipient(uow, me.customer_id, "妈妈")[0].wallet_id == saved["妈妈"].wallet_id
    by_real_name = resolve_recipient(uow, me.customer_id, "张桂兰")
    assert by_real_name[0].wallet_id == saved["妈妈"].wallet_id and by_real_name[0].name == "妈妈"


def test_an_unknown_name_finds_nobody(uow, book):
    me, _ = book
    assert resolve_recipient(uow, me.customer_id, "赵六") == []
    assert resolve_recipient(uow, me.customer_id, "  ") == []


def test_a_phone_number_finds_any_customer_but_shows_only_a_masked_name(uow, book, people):
    me, _ = book
    stranger = people.open("欧阳娜娜")
    from bot.wallet.models import Customer

    with uow:
        phone = uow.session.get(Customer, stranger.customer_id).phone
    spaced = f"{phone[:3]} {phone[3:7]}-{phone[7:]}"
    candidates = resolve_recipient(uow, me.customer_id, spaced)
    assert [(c.wallet_id, c.name, c.saved, c.score) for c in candidates] == [(stranger.wallet_id, "**娜娜", False, 100)]


def test_a_wallet_number_finds_its_wallet(uow, book):
    me, saved = book
    from bot.wallet.models import Wallet

    with uow:
        wallet_no = uow.session.get(Wallet, saved["王五"].wallet_id).wallet_no
    candidates = resolve_recipient(uow, me.customer_id, wallet_no)
    assert [(c.wallet_id, c.saved, c.name) for c in candidates] == [(saved["王五"].wallet_id, True, "王五")]


def test_an_unknown_number_finds_nobody(uow, book):
    me, _ = book
    assert resolve_recipient(uow, me.customer_id, "13000000000") == []


def test_names_only_match_the_customers_own_saved_recipients(uow, book, people):
    me, _ = book
    people.open("赵六")  # exists, but 张三 never saved them
    assert resolve_recipient(uow, me.customer_id, "赵六") == []


def test_an_unknown_customer_cannot_resolve_anything(uow, book):
    with pytest.raises(CustomerNotFound):
        resolve_recipient(uow, "nobody", "李四")
