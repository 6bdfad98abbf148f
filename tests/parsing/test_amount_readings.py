"""`read_amount` tells an exact amount from a vague, negative, zero, repeated or corrected one."""

from dataclasses import FrozenInstanceError
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.parsing import AmountReading, parse_amount, read_amount
from bot.textnorm import normalize


def read(text: str) -> AmountReading:
    return read_amount(normalize(text))


def yuan(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(value) for value in values)


# (message, amount, where it is written)
EXACT = [
    ("给李四转一万零五百", "10500", "一万零五百"),
    ("转5万零1元给妈妈", "50001", "5万零1元"),
    ("帮我打十块零五毛过去", "10.50", "十块零五毛"),
    ("1,000,转给小刘", "1000", "1,000"),
    ("转¥1,234.56给妈妈", "1234.56", "¥1,234.56"),
    ("给李四转５００", "500", "500"),
    ("王五借的钱还他 500元整", "500", "500元整"),
    ("给妈妈转八万", "80000", "八万"),  # over the limit: read exactly, the caller refuses it
    ("给李四转五万零一块", "50001", "五万零一块"),
    ("余额还有1000,帮我转500元", "500", "500元"),  # ¥, 元 and 块 outrank a bare number
    ("余额一千多,转500", "500", "500"),  # an approximation does not compete with an exact amount
    ("今天15号发工资了,给妈妈转2000", "2000", "2000"),
    ("往139 8765 4321打50块", "50", "50块"),
    ("转一块钱也行", "1", "一块钱"),
]


@pytest.mark.parametrize(("text", "amount", "written"), EXACT, ids=[text for text, _, _ in EXACT])
def test_one_clear_amount_is_exact_and_located(text: str, amount: str, written: str) -> None:
    reading = read(text)
    assert (reading.kind, reading.amount) == ("exact", Decimal(amount))
    assert reading.span is not None
    assert normalize(text)[reading.span[0] : reading.span[1]] == written


VAGUE = [
    "两三百", "一千多", "几百块", "五百左右", "三四千", "大概两百", "上千", "三五百", "一两千", "十几块",
    "五六十块", "一百来块", "千把块", "十多", "500多", "500块左右", "大概转两百给妈妈", "约500元", "五百不到",
    "500到600", "五百到六百块", "500-600元", "手机被偷了,钱包里还有一万多",
    # money that cannot be read to the fen
    "五块五十", "3块50", "500.001元", "200000000000元",
]  # fmt: skip


@pytest.mark.parametrize("text", VAGUE)
def test_an_approximate_amount_is_vague_and_never_guessed(text: str) -> None:
    reading = read(text)
    assert (reading.kind, reading.amount, reading.span) == ("vague", None, None)
    assert parse_amount(normalize(text)) is None


@pytest.mark.parametrize(
    ("text", "amount"),
    [("-5元", "-5"), ("负五元", "-5"), ("－５元", "-5"), ("-¥5", "-5"), ("¥-5", "-5"), ("转给王五-100", "-100"),
     ("爸爸 负两百", "-200"), ("-5元 转给王五", "-5")],
)  # fmt: skip
def test_a_negative_amount_is_read_as_negative(text: str, amount: str) -> None:
    reading = read(text)
    assert (reading.kind, reading.amount, reading.amounts) == ("negative", None, yuan(amount))


@pytest.mark.parametrize("text", ["0元", "零块", "给王五转零块钱试试通不通", "给妈妈转0.00", "¥0", "0"])
def test_zero_is_read_as_zero(text: str) -> None:
    reading = read(text)
    assert (reading.kind, reading.amount, reading.amounts) == ("zero", None, yuan("0"))


CORRECTIONS = [
    ("先转200,不对转300吧", "200", "300"),
    ("先转200，不对转300吧", "200", "300"),
    ("200改成300", "200", "300"),
    ("转500块,改为三百", "500", "300"),
    ("转200,换成300吧", "200", "300"),
    ("转200,应该是300", "200", "300"),
    ("转200我是说300", "200", "300"),
    ("转二百,哦不,三百", "200", "300"),
    ("不是200是300", "200", "300"),
    ("不是两百,是三百块", "200", "300"),
    ("转200,说错了,300", "200", "300"),
    ("转300,不对,两三百", "300", None),  # corrected to something vague: ask
]


@pytest.mark.parametrize(("text", "first", "second"), CORRECTIONS, ids=[text for text, _, _ in CORRECTIONS])
def test_the_amount_after_a_correction_is_the_one_meant(text: str, first: str, second: str | None) -> None:
    reading = read(text)
    if second is None:
        assert (reading.kind, reading.amounts) == ("vague", yuan(first))
    else:
        assert (reading.kind, reading.amount, reading.amounts) == ("exact", Decimal(second), yuan(first, second))


@pytest.mark.parametrize(
    ("text", "amounts"),
    [("给王五转300还是500来着", ("300", "500")), ("转500元,不是600元", ("500", "600")), ("不是500就是600", ("500", "600")),
     ("转500对不对,还是600", ("500", "600")), ("小刘 200/250 你看着办", ("200", "250")), ("转了500,300", ("500", "300"))],
)  # fmt: skip
def test_two_different_amounts_without_a_correction_are_several(text: str, amounts: tuple[str, ...]) -> None:
    reading = read(text)
    assert (reading.kind, reading.amount, reading.amounts) == ("several", None, yuan(*amounts))


@pytest.mark.parametrize("text", ["500,就500", "转500,对,就是500", "五百块,就500元"])
def test_the_same_amount_twice_is_exact(text: str) -> None:
    reading = read(text)
    assert (reading.kind, reading.amount, reading.amounts) == ("exact", Decimal("500"), yuan("500"))


NOT_MONEY = [
    "2026-11-25", "11/25", "15:30", "3天", "最近7天", "一笔", "两次", "第一笔", "3点", "5分", "50%", "周5",
    "13800138000", "尾号1234", "卡号6222021234567890123", "验证码:123456", "+86 138-1234-5678",
    "张三", "王五", "一下", "十分感谢", "千万别转", "100美元", "$100", "500 USD", "零钱", "一块儿去", "",
    "我钱包怎么一分钱都没了", "一来我没钱,二来我不认识他",
]  # fmt: skip


@pytest.mark.parametrize("text", NOT_MONEY)
def test_numbers_that_are_not_money_read_as_none(text: str) -> None:
    assert read(text) == AmountReading("none")


def test_a_reading_is_immutable() -> None:
    reading = read("五百")
    with pytest.raises(FrozenInstanceError):
        reading.kind = "none"  # type: ignore[misc]


messages = st.text(alphabet="0123456789.,-¥ 一二两三五十百千万零点壹佰块元毛分钱半多左右不对改成是张给转天", max_size=24)


@given(messages)
def test_parse_amount_is_the_amount_of_an_exact_reading(text: str) -> None:
    reading = read_amount(text)
    assert parse_amount(text) == reading.amount
    assert (reading.amount is not None) == (reading.kind == "exact") == (reading.span is not None)


@given(messages)
def test_the_span_of_an_exact_amount_reads_alone_as_the_same_amount(text: str) -> None:
    reading = read_amount(text)
    if reading.span is not None:
        assert read_amount(text[reading.span[0] : reading.span[1]]).amount == reading.amount
