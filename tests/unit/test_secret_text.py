"""The one definition of a six-digit secret (payment PIN, SMS code) in customer text."""

from __future__ import annotations

import pytest

from bot.secret_text import SCRUBBED_DIGITS, exact_secret, named_secret, scrub, secret_run, secrets_to_scrub


@pytest.mark.parametrize("text", ["246810", " 246810 ", "246810。", "２４６８１０", "2\u200b46810", "246810!"])
def test_a_pin_typed_alone_is_a_secret(text):
    assert exact_secret(text) == "246810"


@pytest.mark.parametrize("text", ["24681", "2468101", "٢٤٦٨١٠", "密码246810", "12345a"])
def test_other_texts_are_not_a_pin_alone(text):
    assert exact_secret(text) is None


def test_other_scripts_digits_are_not_a_pin():
    assert secret_run("٢٤٦٨١٠") is None and named_secret("密码٢٤٦٨١٠") is None


@pytest.mark.parametrize(
    "text",
    ["我的支付密码是246810", "246810。", "就是 246810 吧", "２４６８１０", "转100块，246810", "验证码：246810"],
)
def test_a_message_with_exactly_one_six_digit_run_holds_a_secret(text):
    assert secret_run(text) == "246810"


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",  # a phone number is a longer run
        "138-1234-5678",
        "+86 138 1234 5678",
        "6222 0212 3456 7890 123",  # a card number, spaced
        "110101 19900307 1234",  # an ID number, spaced
        "246810 135790",  # two six-digit runs: not one secret
        "转账100元",
        "2468101",
    ],
)
def test_phone_card_id_numbers_and_two_runs_hold_no_secret(text):
    assert secret_run(text) is None


@pytest.mark.parametrize(
    "text",
    ["我的支付密码是246810", "密码：246810", "PIN 246810", "my password is 246810", "验证码 246810", "交易密码２４６８１０"],
)
def test_a_named_secret_is_found_at_any_time(text):
    assert named_secret(text) == "246810"


@pytest.mark.parametrize("text", ["我忘了密码", "密码错了3次", "密码 13812345678", "验证码收不到，手机13812345678"])
def test_words_about_a_password_without_six_digits_are_no_secret(text):
    assert named_secret(text) is None


def test_scrub_replaces_the_secret_digits_only():
    assert scrub("我的支付密码是246810，卡尾号1234", {"246810"}) == f"我的支付密码是{SCRUBBED_DIGITS}，卡尾号1234"
    assert scrub("２４６８１０", {"246810"}) == SCRUBBED_DIGITS
    assert scrub("2\u200b46810", {"246810"}) == SCRUBBED_DIGITS
    assert scrub("12468109", {"246810"}) == "12468109"


def test_a_lone_run_is_scrubbed_only_after_a_request():
    assert secrets_to_scrub("246810。", after_request=True) == {"246810"}
    assert secrets_to_scrub("246810。", after_request=False) == set()
    assert secrets_to_scrub("密码246810", after_request=False) == {"246810"}
