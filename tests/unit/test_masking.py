"""One masking rule for transcripts, previews, notes, tickets and logs, over the forms customers type."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from bot.masking import MaskingFilter, mask_id_numbers, mask_personal_numbers, mobile_numbers

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
SEPARATORS = st.sampled_from(["", " ", "-"])
CONTEXT = st.sampled_from(["", "我的号码是", "卡号：", "请打", "身份证 ", "hi "])
AFTER = st.sampled_from(["", "。", "，谢谢", " 收不到验证码", "!"])


@st.composite
def mobiles(draw):
    return draw(st.sampled_from("3456789")).join(["1", ""]) + "".join(draw(digits) for _ in range(9))


@st.composite
def typed_mobiles(draw):
    number = draw(mobiles())
    sep = draw(SEPARATORS)
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "0086", "86"]))
    return number, prefix + sep.join([number[:3], number[3:7], number[7:]])


@st.composite
def typed_cards(draw):
    length = draw(st.sampled_from([16, 17, 19]))  # 18 digits read as an ID number (masked all the same)
    number = "62" + "".join(draw(digits) for _ in range(length - 2))
    sep = draw(SEPARATORS)
    return number, sep.join(number[i : i + 4] for i in range(0, length, 4))


@st.composite
def typed_ids(draw):
    number = "".join(draw(digits) for _ in range(17)) + draw(st.sampled_from("0123456789Xx"))
    sep = draw(SEPARATORS)
    return number, sep.join([number[:6], number[6:14], number[14:]])


def _kept_digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


@given(typed_mobiles(), CONTEXT, AFTER)
def test_a_phone_number_in_any_typed_form_is_masked(typed, before, after):
    number, form = typed
    core = f"{number[:3]}****{number[7:]}"
    expected = "+86 " + core if form[0] in "+0" else "86 " + core if len(_kept_digits(form)) == 13 else core
    assert mask_personal_numbers(before + form + after) == before + expected + after


@given(typed_cards(), CONTEXT, AFTER)
def test_a_card_number_in_any_typed_form_is_masked(typed, before, after):
    number, form = typed
    masked = mask_personal_numbers(before + form + after)
    assert masked == before + f"{number[:4]} **** **** {number[-4:]}" + after


@given(typed_ids(), CONTEXT, AFTER)
def test_an_id_number_in_any_typed_form_is_masked(typed, before, after):
    number, form = typed
    masked = mask_personal_numbers(before + form + after)
    assert masked == before + f"{number[:6]}********{number[-4:]}" + after
    assert mask_id_numbers(before + form + after).count("********") == 1


@given(st.text(alphabet="0123456789 -+转账元块号码卡Xx。，abc", max_size=60))
def test_masking_is_idempotent_and_never_fails(text):
    once = mask_personal_numbers(text)
    assert mask_personal_numbers(once) == once


def test_amounts_dates_and_codes_are_left_as_typed():
    for text in ["转100块", "2024-11-29 10:30", "订单号 246810", "给李四转 4999 元"]:
        assert mask_personal_numbers(text) == text


def test_an_amount_next_to_a_phone_number_is_kept():
    assert mask_personal_numbers("转100 13812345678") == "转100 138****5678"


def test_the_forms_from_the_red_team_report_are_masked():
    assert mask_personal_numbers("138-1234-5678") == "138****5678"
    assert mask_personal_numbers("+8613812345678") == "+86 138****5678"
    assert mask_personal_numbers("+86 138 1234 5678") == "+86 138****5678"
    assert mask_personal_numbers("6222 0212 3456 7890 123") == "6222 **** **** 0123"
    assert mask_personal_numbers("110101 19900307 1234") == "110101********1234"
    assert mask_personal_numbers("11010119900307123X") == "110101********123X"
    assert mask_personal_numbers("１３８１２３４５６７８") == "138****5678"


@given(typed_mobiles())
def test_a_callback_number_is_found_in_any_typed_form(typed):
    number, form = typed
    assert mobile_numbers(f"请回电 {form}，谢谢") == [number]


def test_log_records_are_masked():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "customer %s wrote %s", ("c1", "卡 6222 0212 3456 7890"), None)
    MaskingFilter().filter(record)
    assert record.getMessage() == "customer c1 wrote 卡 6222 **** **** 7890"
