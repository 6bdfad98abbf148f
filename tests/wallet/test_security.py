"""Payment PINs, the lockout, SMS codes, and secrets never stored in plain text."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.wallet import (
    DraftExpired,
    OtpAttemptsExceeded,
    OtpExpired,
    OutboxSmsSender,
    RecordingSmsSender,
    VerificationRequired,
    WalletLocked,
    WrongOtp,
    WrongPin,
    audit_entries,
    create_transfer_draft,
    execute_draft,
    get_balance,
    get_draft,
    issue_otp,
    save_recipient,
    sms_outbox,
    unlock_wallet,
    verify_id_number,
    verify_otp,
    verify_pin,
)
from bot.wallet.models import AuditEntry, OtpChallenge, SmsOutboxMessage, Wallet

from .conftest import shanghai

NOW = shanghai(2026, 3, 10, 15, 0)
PIN = "246810"


@pytest.fixture
def alice(people):
    return people.open("李雷", balance_fen=1_000_000, pin=PIN)


@pytest.fixture
def open_draft(uow, people, alice):
    bob = people.open("韩梅梅")
    save_recipient(uow, customer_id=alice.customer_id, wallet_id=bob.wallet_id, alias="梅梅")
    return create_transfer_draft(uow, customer_id=alice.customer_id, recipient_wallet_id=bob.wallet_id,
                                 amount_fen=600_000, channel="web", now=NOW)


def wrong_pin(uow, alice, now=NOW):
    verify_pin(uow, customer_id=alice.customer_id, pin="000000", now=now)


def code_of(text: str) -> str:
    return next(word for word in text.replace("，", " ").split() if word.isdigit() and len(word) == 6)


def test_the_right_pin_passes(uow, alice):
    verify_pin(uow, customer_id=alice.customer_id, pin=PIN, now=NOW)


def test_a_wrong_pin_says_how_many_attempts_are_left(uow, alice):
    lefts = []
    for _ in range(4):
        with pytest.raises(WrongPin) as caught:
            wrong_pin(uow, alice)
        lefts.append(caught.value.attempts_left)
    assert lefts == [4, 3, 2, 1]


def test_the_fifth_wrong_pin_locks_the_wallet_until_midnight_in_shanghai(uow, alice):
    for _ in range(4):
        with pytest.raises(WrongPin):
            wrong_pin(uow, alice)
    with pytest.raises(WalletLocked) as caught:
        wrong_pin(uow, alice)

    assert caught.value.until == shanghai(2026, 3, 11, 0, 0)
    view = get_balance(uow, alice.customer_id, now=NOW)
    assert (view.status, view.lock_reason, view.locked_until) == ("locked", "pin_attempts", shanghai(2026, 3, 11, 0, 0))
    assert audit_entries(uow, target=alice.customer_id)[0]["action"] == "wallet_locked"


def test_a_locked_wallet_refuses_even_the_right_pin_until_the_lock_ends(uow, alice):
    for _ in range(5):
        with pytest.raises((WrongPin, WalletLocked)):
            wrong_pin(uow, alice)
    with pytest.raises(WalletLocked):
        verify_pin(uow, customer_id=alice.customer_id, pin=PIN, now=NOW + timedelta(hours=1))

    after_midnight = shanghai(2026, 3, 11, 0, 1)
    assert get_balance(uow, alice.customer_id, now=after_midnight).status == "active"
    verify_pin(uow, customer_id=alice.customer_id, pin=PIN, now=after_midnight)
    with pytest.raises(WrongPin) as caught:  # the count started again
        wrong_pin(uow, alice, now=after_midnight)
    assert caught.value.attempts_left == 4


def test_a_right_pin_resets_the_count_of_wrong_ones(uow, alice):
    for _ in range(3):
        with pytest.raises(WrongPin):
            wrong_pin(uow, alice)
    verify_pin(uow, customer_id=alice.customer_id, pin=PIN, now=NOW)
    with pytest.raises(WrongPin) as caught:
        wrong_pin(uow, alice)
    assert caught.value.attempts_left == 4


def test_an_agent_can_unlock_earlier_and_it_is_audited(uow, alice):
    for _ in range(5):
        with pytest.raises((WrongPin, WalletLocked)):
            wrong_pin(uow, alice)
    view = unlock_wallet(uow, customer_id=alice.customer_id, actor="agent1", now=NOW)

    assert view.status == "active"
    verify_pin(uow, customer_id=alice.customer_id, pin=PIN, now=NOW)
    entry = audit_entries(uow, target=alice.customer_id)[0]
    assert (entry["actor"], entry["action"], entry["details"]["previous_status"]) == ("agent1", "wallet_unlocked", "locked")


@pytest.mark.parametrize("pin", ["", "24681", "2468100", "abcdef", "２４６８１０", None])
def test_a_malformed_pin_counts_as_a_wrong_one(uow, alice, pin):
    with pytest.raises(WrongPin) as caught:
        verify_pin(uow, customer_id=alice.customer_id, pin=pin, now=NOW)
    assert caught.value.attempts_left == 4


def test_pins_are_stored_only_as_argon2id_hashes(uow, alice):
    with uow:
        stored = uow.session.get(Wallet, alice.wallet_id).pin_hash
    assert stored.startswith("$argon2id$") and PIN not in stored


def test_the_sms_code_is_six_digits_sent_to_the_customers_phone(uow, alice, open_draft):
    sms = RecordingSmsSender()
    issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=open_draft.draft_id, now=NOW)
    message = sms.sent[-1]
    assert message["phone"].startswith("19") and len(code_of(message["text"])) == 6


def test_sms_codes_are_stored_only_as_hashes_and_in_the_demo_outbox(uow, session_factory, alice, open_draft):
    issue_otp(uow, OutboxSmsSender(session_factory), customer_id=alice.customer_id, purpose="transfer",
              draft_id=open_draft.draft_id, now=NOW)
    code = code_of(sms_outbox(uow, limit=1)[0].text)
    with uow:
        code_hash = uow.session.scalars(select(OtpChallenge.code_hash)).one()
        audit = [str(details) for details in uow.session.scalars(select(AuditEntry.details))]
        outbox = uow.session.scalars(select(SmsOutboxMessage.text)).all()
    assert code not in code_hash and len(code_hash) == 64
    assert all(code not in details for details in audit)
    assert len(outbox) == 1


def test_a_right_sms_code_works_once(uow, alice, open_draft):
    sms = RecordingSmsSender()
    issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=open_draft.draft_id, now=NOW)
    code = code_of(sms.sent[-1]["text"])
    verify_otp(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, code=code, now=NOW)
    with pytest.raises(OtpExpired):
        verify_otp(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, code=code, now=NOW)


def test_an_sms_code_expires_after_five_minutes(uow, alice, open_draft):
    sms = RecordingSmsSender()
    issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=open_draft.draft_id, now=NOW)
    with pytest.raises(OtpExpired):
        verify_otp(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, code=code_of(sms.sent[-1]["text"]),
                   now=NOW + timedelta(minutes=5))


def test_five_wrong_sms_codes_burn_the_code(uow, alice, open_draft):
    sms = RecordingSmsSender()
    issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=open_draft.draft_id, now=NOW)
    code = code_of(sms.sent[-1]["text"])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    lefts = []
    for _ in range(4):
        with pytest.raises(WrongOtp) as caught:
            verify_otp(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, code=wrong, now=NOW)
        lefts.append(caught.value.attempts_left)
    with pytest.raises(OtpAttemptsExceeded):
        verify_otp(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, code=wrong, now=NOW)
    with pytest.raises(OtpExpired):  # even the right code is dead now
        verify_otp(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, code=code, now=NOW)
    assert lefts == [4, 3, 2, 1]


def test_a_new_sms_code_invalidates_the_old_one(uow, alice, open_draft):
    sms = RecordingSmsSender()
    issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=open_draft.draft_id, now=NOW)
    old = code_of(sms.sent[-1]["text"])
    issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=open_draft.draft_id, now=NOW)
    new = code_of(sms.sent[-1]["text"])
    if old != new:
        with pytest.raises(WrongOtp):
            verify_otp(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, code=old, now=NOW)
    verify_otp(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, code=new, now=NOW)


def test_the_pin_and_the_sms_code_together_confirm_a_large_draft(uow, alice, open_draft):
    sms = RecordingSmsSender()
    verify_pin(uow, customer_id=alice.customer_id, pin=PIN, draft_id=open_draft.draft_id, now=NOW)
    assert get_draft(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, now=NOW).status == "draft"
    issue_otp(uow, sms, customer_id=alice.customer_id, purpose="transfer", draft_id=open_draft.draft_id, now=NOW)
    verify_otp(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, code=code_of(sms.sent[-1]["text"]),
               now=NOW)
    view = get_draft(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, now=NOW)
    assert (view.status, view.pin_verified, view.otp_verified) == ("confirmed", True, True)
    assert execute_draft(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, now=NOW).amount_fen == 600_000


def test_a_wrong_pin_for_a_draft_does_not_confirm_it(uow, alice, open_draft):
    with pytest.raises(WrongPin):
        verify_pin(uow, customer_id=alice.customer_id, pin="000000", draft_id=open_draft.draft_id, now=NOW)
    with pytest.raises(VerificationRequired):
        execute_draft(uow, customer_id=alice.customer_id, draft_id=open_draft.draft_id, now=NOW)


def test_no_code_is_sent_for_an_expired_draft(uow, alice, open_draft):
    with pytest.raises(DraftExpired):
        issue_otp(uow, RecordingSmsSender(), customer_id=alice.customer_id, purpose="transfer",
                  draft_id=open_draft.draft_id, now=NOW + timedelta(minutes=20))


def test_an_id_number_is_kept_only_as_a_keyed_hash_and_can_be_checked(uow, people):
    person = people.open("王小明")
    from bot.wallet.models import Customer

    with uow:
        customer = uow.session.get(Customer, person.customer_id)
        last4, stored = customer.id_number_last4, customer.id_number_hash
    assert len(stored) == 64 and last4.isdigit()
    assert not verify_id_number(uow, customer_id=person.customer_id, id_number="110101199001011234")
