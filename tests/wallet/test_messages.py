"""Each wallet error has one warm, brief Chinese reply."""

from __future__ import annotations

import inspect

import pytest

from bot.wallet import errors, format_yuan
from bot.wallet.messages import describe, sms_text

from .conftest import shanghai

EXAMPLES = [
    errors.SameWallet(1),
    errors.InsufficientFunds(1, 50_000, 60_000),
    errors.PerTransferLimitExceeded(6_000_000, 5_000_000),
    errors.DailyLimitExceeded(3_000_000, 18_000_000, 20_000_000),
    errors.WalletLocked(1, shanghai(2026, 3, 11, 0, 0), "pin_attempts"),
    errors.WalletFrozen(1, "fraud_report"),
    errors.AmountInvalid(-1),
    errors.RecipientNotFound("赵六"),
    errors.WrongPin(3),
    errors.WrongOtp(2),
    errors.OtpExpired("d-1"),
    errors.OtpAttemptsExceeded("d-1"),
    errors.OtpResendTooSoon(42),
    errors.OtpResendLimitReached(5),
    errors.VerificationRequired("d-1", "otp"),
    errors.CustomerNotFound("x"),
    errors.WalletNotFound(1),
    errors.DraftNotFound("d-1"),
    errors.DraftExpired("d-1", shanghai(2026, 3, 11, 0, 0)),
    errors.DraftCancelled("d-1"),
    errors.TransferIdReused("t-1"),
    errors.LedgerCorrupted("x"),
]


def test_every_error_class_has_an_example_here():
    classes = {cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.WalletError)}
    leaves = {cls for cls in classes if not cls.__subclasses__()}
    assert leaves == {type(e) for e in EXAMPLES}


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_error_reads_as_chinese_without_internal_words(error):
    reply = describe(error)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in reply)
    assert "fen" not in reply and "None" not in reply and "wallet" not in reply.lower()


def test_insufficient_funds_names_both_amounts():
    assert describe(errors.InsufficientFunds(1, 50_000, 60_000)) == "余额不足：您的钱包余额为 ¥500.00，本次需 ¥600.00。"


def test_a_locked_wallet_says_until_when_and_offers_a_human():
    reply = describe(errors.WalletLocked(1, shanghai(2026, 3, 11, 0, 0), "pin_attempts"))
    assert "3月11日 00:00" in reply and "支付密码" in reply and "人工" in reply


def test_wrong_pin_says_how_many_tries_are_left():
    assert "3 次" in describe(errors.WrongPin(3))


def test_amounts_are_formatted_exactly_with_thousands():
    assert [format_yuan(f) for f in (0, 1, 1_234_567, 100_000_000_00, -500)] == [
        "¥0.00", "¥0.01", "¥12,345.67", "¥100,000,000.00", "-¥5.00"]


def test_the_sms_says_what_the_code_authorises():
    text = sms_text(purpose="transfer", code="123456", ttl_min=5, amount_fen=600_000, recipient="*四")
    assert "123456" in text and "*四" in text and "¥6,000.00" in text and "5 分钟" in text
