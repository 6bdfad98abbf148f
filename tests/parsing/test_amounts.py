from decimal import Decimal

import cn2an
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.parsing import AmountNotFinite, FractionalFen, format_yuan, parse_amount, to_fen
from bot.textnorm import normalize

READ_AS = [
    # bare numbers and the everyday units
    ("500", "500"),
    ("500元", "500"),
    ("500块", "500"),
    ("500块钱", "500"),
    ("500 元", "500"),
    ("200.5", "200.5"),
    ("0.01", "0.01"),
    ("500.00元", "500"),
    # Chinese numerals, including the spoken abbreviations
    ("五百", "500"),
    ("五百块", "500"),
    ("一千二", "1200"),
    ("一千二百五", "1250"),
    ("两万", "20000"),
    ("一万五", "15000"),
    ("三千五", "3500"),
    ("十块", "10"),
    ("十五元", "15"),
    ("一百零五", "105"),
    ("一千零二十", "1020"),
    ("一百一", "110"),
    ("一万二千五", "12500"),
    ("三万二千", "32000"),
    ("十万五", "105000"),
    ("两亿五", "250000000"),
    ("五点五", "5.5"),
    ("零点五元", "0.5"),
    # Arabic digits with 万 and 千
    ("2万", "20000"),
    ("1.5万", "15000"),
    ("2万5", "25000"),
    ("1万2", "12000"),
    ("一万5000", "15000"),
    ("3千", "3000"),
    # currency signs and codes
    ("¥1,000", "1000"),
    ("1,000", "1000"),  # a bare thousands separator is read too; "500,300" (two numbers) is not
    ("12,345.67", "12345.67"),
    ("￥200", "200"),
    ("¥ 88", "88"),
    ("1,000.50元", "1000.5"),
    ("RMB 300", "300"),
    ("RMB300", "300"),
    ("300rmb", "300"),
    ("人民币300", "300"),
    ("CNY 50", "50"),
    ("1k元", "1000"),
    # 块, 毛 and 分
    ("五块五", "5.5"),
    ("三块二毛", "3.2"),
    ("三块二毛五", "3.25"),
    ("两块五毛钱", "2.5"),
    ("3块5", "3.5"),
    ("3块5毛", "3.5"),
    ("一块零五", "1.05"),
    ("一块半", "1.5"),
    ("八毛", "0.8"),
    ("八毛五", "0.85"),
    ("5毛", "0.5"),
    ("5分钱", "0.05"),
    # capital numerals, as on a cheque
    ("壹仟贰佰元", "1200"),
    ("壹拾贰元叁角肆分", "12.34"),
    ("壹拾贰元零肆分", "12.04"),
    ("壹仟贰佰元整", "1200"),
    ("壹仟零伍拾元", "1050"),
    ("伍佰", "500"),
    ("伍分", "0.05"),
    # internal zeros, and 零 before the jiao (the QA pass's misreadings)
    ("十块零五毛", "10.5"),
    ("一百块零五毛", "100.5"),
    ("一块零五分", "1.05"),
    ("三块零五分", "3.05"),
    ("5万零1元", "50001"),
    ("五万零一块", "50001"),
    ("1万零5百", "10500"),
    ("一万零五百", "10500"),
    ("1千零5", "1005"),
    ("一千零五十", "1050"),
    ("两千零八块", "2008"),
    ("三百零五块", "305"),
    ("一百零一块", "101"),
    ("1千2", "1200"),
    ("两百五", "250"),
    ("0.5万", "5000"),
    ("一点五万", "15000"),
    ("十万", "100000"),
    ("500元整", "500"),
    # the amount inside a sentence
    ("转500给李四", "500"),
    ("给张三转五百块", "500"),
    ("给王五转500", "500"),
    ("李四500", "500"),
    ("给13800138000转100", "100"),
    ("尾号1234的卡转500", "500"),
    ("卡号6222021234567890123转500", "500"),
    ("上个月转了500", "500"),
    ("最近7天转了两千", "2000"),
    ("3点转的500", "500"),
    ("周5转了500", "500"),
    ("每周500块", "500"),
    ("我有两张卡,转500", "500"),
    ("余额还有1000,帮我转500元", "500"),
    ("转500,对,就是500", "500"),
    ("转了500元2笔", "500"),
    ("金额:500", "500"),
    ("帮我查一下,转了五百块", "500"),
    # names, phone numbers and words around the amount
    ("麻烦转王五二十块零八毛", "20.8"),
    ("还张三一块零五分", "1.05"),
    ("李四两百五", "250"),
    ("零钱转500", "500"),
    ("+86 138-1234-5678 转20", "20"),
    ("能不能帮我转1万块到18612345678", "10000"),
    ("transfer 300 to 李四", "300"),
    ("¥10,000,000,000", "10000000000"),
]


@pytest.mark.parametrize(("text", "yuan"), READ_AS, ids=[text for text, _ in READ_AS])
def test_an_amount_in_a_message_is_read_exactly(text: str, yuan: str) -> None:
    assert parse_amount(normalize(text)) == Decimal(yuan)


NOT_ONE_AMOUNT = [
    # no money at all
    "",
    "你好",
    "上个月",
    "三月份",
    "最近7天",
    "3月",
    "一笔",
    "一",
    "两",
    "十",
    "帮我查一下",
    "十分感谢",
    "千万别转",
    "一起去",
    "一块儿去",
    "转到零钱",
    "2026-11-25",
    "11/25",
    "15:30",
    "周一",
    "第一笔",
    "双十一",
    "3点",
    "5分",
    "50%",
    "5kg",
    "iPhone15",
    # identifiers are not amounts
    "13800138000",
    "10000000000",
    "尾号1234",
    "验证码:123456",
    "007",
    # ambiguous, approximate or foreign
    "1k",
    "5w",
    "七八百",
    "五百多块",
    "500多",
    "500左右",
    "500来块",
    "几百块",
    "500到600",
    "500-600",
    "200/250",
    "转500元,不是600元",
    "转了500,300是手续费",
    "转了500,300",
    "五块五十",
    "3块50",
    "一千二点五",
    "100美元",
    "$100",
    "50港币",
    # not positive, not whole fen, too large
    "0",
    "0元",
    "-500",
    "负500元",
    "1.005",
    "500.001元",
    "三点一四一",
    "200000000000元",
    "¥10,000,000,001",
    "一万亿",
]


@pytest.mark.parametrize("text", NOT_ONE_AMOUNT)
def test_a_message_without_exactly_one_clear_amount_gives_none(text: str) -> None:
    assert parse_amount(normalize(text)) is None


@pytest.mark.parametrize(
    ("text", "yuan"),
    [("轉伍佰塊給張三", "500"), ("５００元", "500"), ("￥２００", "200"), ("壹仟貳佰圓", "1200"), ("兩萬", "20000")],
)
def test_traditional_and_full_width_text_is_read_after_normalising(text: str, yuan: str) -> None:
    assert parse_amount(normalize(text)) == Decimal(yuan)


def test_a_parsed_amount_always_has_two_decimal_places() -> None:
    assert str(parse_amount("两万")) == "20000.00"
    assert str(parse_amount("200.5")) == "200.50"


def test_an_overlong_message_is_not_searched() -> None:
    assert parse_amount("转500" + "啊" * 5000) is None


@pytest.mark.parametrize(
    ("amount", "fen"),
    [("12.34", 1234), ("0.01", 1), ("500", 50000), ("500.00", 50000), ("10000000000.00", 1_000_000_000_000)],
)
def test_to_fen_counts_whole_fen(amount: str, fen: int) -> None:
    assert to_fen(Decimal(amount)) == fen


def test_to_fen_refuses_a_fraction_of_a_fen() -> None:
    with pytest.raises(FractionalFen):
        to_fen(Decimal("0.005"))


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_to_fen_refuses_what_is_not_a_number(amount: str) -> None:
    with pytest.raises(AmountNotFinite):
        to_fen(Decimal(amount))


@pytest.mark.parametrize(
    ("fen", "text"),
    [(1234567, "¥12,345.67"), (1, "¥0.01"), (0, "¥0.00"), (50000, "¥500.00"), (-1200, "-¥12.00")],
)
def test_format_yuan_writes_yuan_with_thousands_separators(fen: int, text: str) -> None:
    assert format_yuan(fen) == text


fens = st.integers(min_value=1, max_value=10**9)


def _yuan_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@given(fens)
def test_any_amount_written_in_yuan_round_trips(fen: int) -> None:
    assert parse_amount(f"{_yuan_text(fen)}元") == Decimal(fen) / 100


@given(fens)
def test_what_format_yuan_writes_parses_back_to_the_same_fen(fen: int) -> None:
    amount = parse_amount(format_yuan(fen))
    assert amount is not None
    assert to_fen(amount) == fen


@given(fens)
def test_an_amount_inside_a_transfer_request_round_trips(fen: int) -> None:
    assert parse_amount(f"给张三转{_yuan_text(fen)}块钱") == Decimal(fen) / 100


@given(st.integers(min_value=1, max_value=10**9))
def test_chinese_numerals_read_as_cn2an_writes_them(yuan: int) -> None:
    assert parse_amount(cn2an.an2cn(yuan) + "元") == yuan
    assert parse_amount(cn2an.an2cn(yuan, "up") + "元") == yuan


@given(st.integers(min_value=100, max_value=10**9))
def test_capital_cheque_wording_round_trips(fen: int) -> None:
    assert parse_amount(cn2an.an2cn(_yuan_text(fen), "rmb")) == Decimal(fen) / 100


amount_text = st.text(alphabet="0123456789.,-¥$ 一二两三五十百千万亿零点壹贰拾佰仟块元毛角分钱半多天月kw", max_size=16)


@given(amount_text)
def test_no_message_makes_parse_amount_raise(text: str) -> None:
    amount = parse_amount(text)
    assert amount is None or Decimal("0.01") <= amount <= Decimal(10) ** 10
