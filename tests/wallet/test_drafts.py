"""A customer's transfer: draft, PIN (and SMS code), execution, receipt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.wallet import (
    AmountInvalid,
    CustomerNotFound,
    DailyLimitExceeded,
    DraftCancelled,
    DraftExpired,
    DraftNotFound,
    InsufficientFunds,
    PerTransferLimitExceeded,
    RecipientNotFound,
    RecordingSmsSender,
    SameWallet,
    VerificationRequired,
    WalletFrozen,
    cancel_draft,
    create_transfer_draft,
    execute_draft,
    freeze_wallet,
    get_balance,
    get_draft,
    issue_otp,
    latest_open_draft,
    save_recipient,
    transfer,
    verify_otp,
    verify_pin,
)

from .conftest import shanghai

NOW = shanghai(2026, 3, 10, 14, 0)


@pytest.fixture
def alice(people):
    return people.open("李雷", balance_fen=50_000_000, pin="246810")


@pytest.fixture
def bob(people, uow, alice):
    bob = people.open("韩梅梅")
    save_recipient(uow, customer_id=alice.customer_id, wallet_id=bob.wallet_id, alias="梅梅")
    return bob


def draft(uow, alice, recipient, amount_fen, now=NOW):
    return create_transfer_draft(uow, customer_id=alice.customer_id, recipient_wallet_id=recipient.wallet_id,
                                 amount_fen=amount_fen, channel="web", now=now)


def code_from(sms: RecordingSmsSender) -> str:
    text = sms.sent[-1]["text"]
    return next(word for word in text.replace("，", " ").split() if word.isdigit() and len(word) == 6)


def authorise(uow, person, view, pin="246810"):
    verify_pin(uow, customer_id=person.customer_id, pin=pin, draft_id=view.draft_id, now=NOW)
    if view.needs_otp:
        sms = RecordingSmsSender()
        issue_otp(uow, sms, customer_id=person.customer_id, purpose="transfer", draft_id=view.draft_id, now=NOW)
        verify_otp(uow, customer_id=person.customer_id, draft_id=view.draft_id, code=code_from(sms), now=NOW)


def test_a_small_transfer_to_a_saved_recipient_needs_only_the_pin(uow, alice, bob):
    view = draft(uow, alice, bob, 50_000)

    assert (view.needs_otp, view.new_recipient, view.fee_fen, view.status) == (False, False, 0, "draft")
    assert view.recipient_display == "梅梅 (**梅 " + view.recipient_display.split()[-1]
    verify_pin(uow, customer_id=alice.customer_id, pin="246810", draft_id=view.draft_id, now=NOW)
    receipt = execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW)

    assert (receipt.transfer_id, receipt.amount_fen, receipt.balance_after_fen) == (view.draft_id, 50_000, 49_950_000)
    assert not receipt.replayed
    assert get_balance(uow, alice.customer_id).balance_fen == 49_950_000


def test_executing_a_draft_twice_returns_the_first_receipt_and_moves_money_once(uow, alice, bob):
    view = draft(uow, alice, bob, 50_000)
    verify_pin(uow, customer_id=alice.customer_id, pin="246810", draft_id=view.draft_id, now=NOW)
    first = execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW)

    again = execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW + timedelta(minutes=1))

    assert again.replayed and (again.transfer_id, again.executed_at, again.balance_after_fen) == (
        first.transfer_id, first.executed_at, first.balance_after_fen)
    assert get_balance(uow, alice.customer_id).balance_fen == 49_950_000
    assert get_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW).status == "executed"


def test_a_draft_does_not_execute_before_its_pin_is_verified(uow, alice, bob):
    view = draft(uow, alice, bob, 50_000)
    with pytest.raises(VerificationRequired) as caught:
        execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW)
    assert caught.value.step == "pin"
    assert get_balance(uow, alice.customer_id).balance_fen == 50_000_000


def test_a_transfer_of_5000_yuan_or_more_needs_the_sms_code_too(uow, alice, bob):
    sms = RecordingSmsSender()
    view = draft(uow, alice, bob, 500_000)
    assert view.needs_otp and not view.new_recipient
    verify_pin(uow, customer_id=alice.customer_id, pin="246810", draft_id=view.draft_id, now=NOW)
    with pytest.raises(VerificationRequired) as caught:
        execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW)
    assert caught.value.step == "otp"

    issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=view.draft_id, now=NOW)
    verify_otp(uow, customer_id=alice.customer_id, draft_id=view.draft_id, code=code_from(sms), now=NOW)
    receipt = execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW)

    assert receipt.amount_fen == 500_000
    assert "¥5,000.00" in sms.sent[-1]["text"] and "**梅" in sms.sent[-1]["text"]


def test_the_first_transfer_to_a_stranger_needs_the_sms_code(uow, people, alice):
    stranger = people.open("路人甲")
    view = draft(uow, alice, stranger, 100)
    assert view.new_recipient and view.needs_otp


def test_a_recipient_paid_before_is_no_longer_new(uow, people, alice):
    stranger = people.open("路人甲")
    transfer(uow, transfer_id="earlier", source_wallet_id=alice.wallet_id, target_wallet_id=stranger.wallet_id,
             amount_fen=100)
    view = draft(uow, alice, stranger, 100)
    assert not view.new_recipient and not view.needs_otp


def test_a_draft_is_checked_with_a_ladder_of_named_errors(uow, people, alice, bob):
    poor = people.open("穷", balance_fen=50_000)
    with pytest.raises(AmountInvalid):
        draft(uow, alice, bob, 0)
    with pytest.raises(CustomerNotFound):
        create_transfer_draft(uow, customer_id="nobody", recipient_wallet_id=bob.wallet_id, amount_fen=1, channel="web")
    with pytest.raises(RecipientNotFound):
        create_transfer_draft(uow, customer_id=alice.customer_id, recipient_wallet_id=99_999, amount_fen=1, channel="web")
    with pytest.raises(RecipientNotFound):
        create_transfer_draft(uow, customer_id=alice.customer_id, recipient_wallet_id=1, amount_fen=1, channel="web")
    with pytest.raises(SameWallet):
        draft(uow, alice, alice, 100)
    with pytest.raises(PerTransferLimitExceeded) as over:
        draft(uow, alice, bob, 5_000_001)
    assert (over.value.amount_fen, over.value.limit_fen) == (5_000_001, 5_000_000)
    with pytest.raises(InsufficientFunds) as short:
        draft(uow, poor, bob, 60_000)
    assert (short.value.balance_fen, short.value.amount_fen) == (50_000, 60_000)


def test_a_transfer_over_the_daily_limit_is_rejected(uow, alice, bob):
    for n in range(4):  # ¥180,000 of the ¥200,000 a day
        transfer(uow, transfer_id=f"today-{n}", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id,
                 amount_fen=4_500_000, now=NOW - timedelta(hours=n))
    with pytest.raises(DailyLimitExceeded) as caught:
        draft(uow, alice, bob, 2_000_001)
    assert (caught.value.used_fen, caught.value.remaining_fen) == (18_000_000, 2_000_000)
    assert draft(uow, alice, bob, 2_000_000).amount_fen == 2_000_000


def test_the_daily_limit_starts_again_at_midnight_in_shanghai(uow, alice, bob):
    late = shanghai(2026, 3, 9, 23, 50)
    for n in range(5):
        transfer(uow, transfer_id=f"late-{n}", source_wallet_id=alice.wallet_id, target_wallet_id=bob.wallet_id,
                 amount_fen=4_000_000, now=late)
    with pytest.raises(DailyLimitExceeded):
        draft(uow, alice, bob, 100, now=late + timedelta(minutes=5))
    assert draft(uow, alice, bob, 100, now=shanghai(2026, 3, 10, 0, 1)).amount_fen == 100


def test_the_limits_are_checked_again_when_the_draft_executes(uow, alice, bob):
    view = draft(uow, alice, bob, 4_000_000)
    authorise(uow, alice, view)
    for n in range(4):
        transfer(uow, transfer_id=f"meanwhile-{n}", source_wallet_id=alice.wallet_id,
                 target_wallet_id=bob.wallet_id, amount_fen=4_500_000, now=NOW)
    with pytest.raises(DailyLimitExceeded):
        execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW)


def test_funds_are_checked_again_when_the_draft_executes(uow, people, bob):
    carol = people.open("小红", balance_fen=10_000, pin="135790")
    other = people.open("别人")
    view = create_transfer_draft(uow, customer_id=carol.customer_id, recipient_wallet_id=other.wallet_id,
                                 amount_fen=8_000, channel="web", now=NOW)
    transfer(uow, transfer_id="spent", source_wallet_id=carol.wallet_id, target_wallet_id=bob.wallet_id, amount_fen=5_000)
    authorise(uow, carol, view, pin="135790")

    with pytest.raises(InsufficientFunds):
        execute_draft(uow, customer_id=carol.customer_id, draft_id=view.draft_id, now=NOW)
    assert get_balance(uow, carol.customer_id).balance_fen == 5_000


def test_a_frozen_wallet_cannot_execute_a_confirmed_draft(uow, alice, bob):
    view = draft(uow, alice, bob, 100)
    verify_pin(uow, customer_id=alice.customer_id, pin="246810", draft_id=view.draft_id, now=NOW)
    freeze_wallet(uow, customer_id=alice.customer_id, reason="fraud_report", actor="customer", now=NOW)
    with pytest.raises(WalletFrozen):
        execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW)


def test_a_draft_expires_after_fifteen_minutes(uow, alice, bob):
    view = draft(uow, alice, bob, 100)
    verify_pin(uow, customer_id=alice.customer_id, pin="246810", draft_id=view.draft_id, now=NOW)
    with pytest.raises(DraftExpired):
        execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW + timedelta(minutes=15))
    assert get_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW).status == "expired"
    assert latest_open_draft(uow, alice.customer_id, now=NOW) is None


def test_a_cancelled_draft_never_executes(uow, alice, bob):
    view = draft(uow, alice, bob, 100)
    verify_pin(uow, customer_id=alice.customer_id, pin="246810", draft_id=view.draft_id, now=NOW)
    assert cancel_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW).status == "cancelled"
    with pytest.raises(DraftCancelled):
        execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW)
    assert get_balance(uow, alice.customer_id).balance_fen == 50_000_000


def test_cancelling_an_executed_draft_changes_nothing(uow, alice, bob):
    view = draft(uow, alice, bob, 100)
    verify_pin(uow, customer_id=alice.customer_id, pin="246810", draft_id=view.draft_id, now=NOW)
    execute_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW)
    assert cancel_draft(uow, customer_id=alice.customer_id, draft_id=view.draft_id, now=NOW).status == "executed"


def test_a_new_draft_replaces_the_open_one(uow, alice, bob):
    first = draft(uow, alice, bob, 100)
    second = draft(uow, alice, bob, 200)
    assert latest_open_draft(uow, alice.customer_id, now=NOW).draft_id == second.draft_id
    assert get_draft(uow, customer_id=alice.customer_id, draft_id=first.draft_id, now=NOW).status == "cancelled"


def test_a_customer_cannot_see_or_execute_another_customers_draft(uow, people, alice, bob):
    view = draft(uow, alice, bob, 100)
    verify_pin(uow, customer_id=alice.customer_id, pin="246810", draft_id=view.draft_id, now=NOW)
    for call in (get_draft, execute_draft, cancel_draft):
        with pytest.raises(DraftNotFound):
            call(uow, customer_id=bob.customer_id, draft_id=view.draft_id, now=NOW)
    with pytest.raises(DraftNotFound):
        verify_pin(uow, customer_id=bob.customer_id, pin="123456", draft_id=view.draft_id, now=NOW)



def test_a_new_sms_code_waits_a_minute_and_at_most_five_resends_a_day(uow, alice, bob):
    from bot.wallet import OtpResendLimitReached, OtpResendTooSoon

    view = draft(uow, alice, bob, 600_000)
    sms = RecordingSmsSender()

    def send(at, resend):
        issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=view.draft_id, resend=resend, now=at)

    send(NOW, False)
    with pytest.raises(OtpResendTooSoon) as too_soon:
        send(NOW + timedelta(seconds=20), True)
    assert too_soon.value.retry_after_s == 40
    for minute in range(1, 6):
        send(NOW + timedelta(minutes=minute), True)
    with pytest.raises(OtpResendLimitReached):
        send(NOW + timedelta(minutes=7), True)
    assert len(sms.sent) == 6
