import pytest

from bot.masking import mask_name, mask_personal_numbers
from bot.textnorm import normalize


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("數字錢包怎麼開通", "数字钱包怎么开通"),
        ("支付密碼忘記了", "支付密码忘记了"),
        ("ＡＰＰ打不開", "APP打不开"),
        ("提現５００元", "提现500元"),
        ("  多余   空格  ", "多余 空格"),
        ("零\u200b宽\u200d字符\u202e", "零宽字符"),
        ("控制\x00字符\x07", "控制 字符"),
        ("", ""),
    ],
)
def test_customer_text_is_normalised_to_simplified_half_width(raw, expected):
    assert normalize(raw) == expected


def test_normalising_twice_changes_nothing():
    once = normalize("我的帳戶被凍結了！？")
    assert normalize(once) == once


def test_personal_numbers_are_masked_in_transcripts():
    text = "我的身份证110101199003077777，卡号6222020200112233445，手机13800138000"
    masked = mask_personal_numbers(text)
    assert "110101199003077777" not in masked
    assert "6222020200112233445" not in masked
    assert "13800138000" not in masked
    assert "138****8000" in masked


def test_names_keep_only_their_last_character():
    assert mask_name("张三") == "*三"
    assert mask_name("欧阳娜娜") == "**娜娜"
