"""Money amounts in a customer's message: "转五百块给张三" → Decimal("500.00").

`parse_amount` never converts the whole sentence. It finds candidate spans with one regex over
numeral characters (Arabic digits, 一二三…, 壹贰叁…, 十百千万亿), reads each span with a small
Decimal-exact reader, and throws away spans that are not money: times and counters (7天, 3月, 一笔),
identifiers (phone and card numbers, 尾号1234), approximations (五百多), foreign currencies, lone
characters (the 一 of 一下, the 三 of 张三). When exactly one amount is left it is the answer;
when two different amounts are left the message is ambiguous and the answer is None.

Errors: `AmountError > {FractionalFen, AmountNotFinite}` (raised by `to_fen` only).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

AMOUNT_YUAN_MAX = Decimal(10) ** 10
TEXT_CHARS_MAX = 2000
FRACTION_DIGITS_MAX = 2
IDENTIFIER_DIGITS_MIN = 11  # an unbroken run this long is a phone, card or ID number

_FEN = Decimal("0.01")
_JIAO = Decimal("0.1")


class AmountError(ValueError):
    """A value cannot be used as an amount of money."""


class FractionalFen(AmountError):
    def __init__(self, amount: Decimal) -> None:
        super().__init__(f"{amount} yuan is not a whole number of fen")
        self.amount = amount


class AmountNotFinite(AmountError):
    def __init__(self, amount: Decimal) -> None:
        super().__init__(f"{amount} is not a finite amount")
        self.amount = amount


_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7,
    "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG_UNITS = {"万": 10**4, "亿": 10**8}
_MULTIPLIERS = {"k": 1000, "w": 10**4}
_UNIT_SCALES = {
    "块钱": Decimal(1), "元钱": Decimal(1), "块": Decimal(1), "元": Decimal(1), "圆": Decimal(1),
    "rmb": Decimal(1), "cny": Decimal(1), "人民币": Decimal(1),
    "毛钱": _JIAO, "毛": _JIAO, "角": _JIAO, "分钱": _FEN,
}  # fmt: skip
_YUAN_UNITS_WITH_TAIL = {"块", "元", "圆"}  # 五块五, 三块二毛, 壹拾贰元叁角肆分
_JIAO_UNITS_WITH_TAIL = {"毛", "角"}  # 八毛五

_D = "".join(_DIGITS)
_ARABIC = r"[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?"
_U = "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)
# A Chinese digit directly before an Arabic one (王五500) belongs to a name, not to the number.
_NUMERAL = rf"(?:{_ARABIC}|[{_U}]|[{_D}](?![0-9]))+(?:点[{_D}]+)?"
_UNIT = "|".join(sorted(_UNIT_SCALES, key=len, reverse=True))
_MONEY = re.compile(
    rf"(?P<prefix>(?:[¥$]|rmb|cny|人民币)\s*)?"
    rf"(?P<number>{_NUMERAL})"
    r"(?P<multiplier>[kw](?![a-z]))?"
    rf"(?:\s*(?P<unit>{_UNIT}))?",
    re.IGNORECASE,
)
_YUAN_TAIL = re.compile(
    rf"(?:(?P<half>半)"
    rf"|[零〇0](?P<fen_after_zero>[{_D}0-9])分?"
    rf"|(?P<jiao>[{_D}0-9])(?:(?P<jiao_unit>毛|角)(?:(?P<fen>[{_D}0-9])分?)?)?)"
    r"钱?"
)
_JIAO_TAIL = re.compile(rf"(?:(?P<half>半)|(?P<fen>[{_D}0-9])分?)钱?")

_NUMERAL_CHARS = _D + _U + "0123456789"
_COMMA_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_WHOLE_TOKEN = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)?|.")

_NOT_MONEY_AFTER = re.compile(
    r"\s*(?:天|日|号|月|年|周|星期|礼拜|小时|分|秒|钟|点|个|笔|次|张|位|岁|%|折|倍|人|条|期|楼|层"
    r"|遍|件|份|台|页|斤|克|米|公里|度|级|名|项"
    r"|美元|美金|刀|港币|港元|欧元|英镑|韩元|澳元|加元|卢布|泰铢|台币)"
    r"|[a-z]|[-/:~][0-9]|\.[0-9]|,[0-9]",
    re.IGNORECASE,
)
_APPROXIMATE_AFTER = re.compile(r"\s*(?:多|余|来|几|左右|上下|出头)")
_NOT_MONEY_BEFORE = re.compile(
    r"(?:(?:尾号|卡号|账号|帐号|号码|编号|单号|订单号?|流水号|验证码|密码|工号|身份证|手机号?|电话)"
    r"(?:是|为)?\s*:?\s*|第|双|负|[-−a-z.]|[0-9][/:~,])$",
    re.IGNORECASE,
)
_DAY_NAME_BEFORE = re.compile(r"(?:周|星期|礼拜|初)$")  # 周5, 初8


class _Ambiguous(Exception):
    """Internal: the message cannot be read as one amount at all (五块五十)."""


@dataclass(frozen=True)
class _Candidate:
    yuan: Decimal
    marked: bool  # written with ¥, RMB, 元, 块 or 毛: a stronger claim than a bare number
    end: int  # where the amount's text ends, tail (五块五) included


def parse_amount(text: str) -> Decimal | None:
    """The one amount of yuan in `text` (already `textnorm.normalize`d), to the fen, or None."""
    if not text or len(text) > TEXT_CHARS_MAX:
        return None
    try:
        candidates = list(_candidates(text))
    except _Ambiguous:
        return None
    if any(c.marked for c in candidates):
        candidates = [c for c in candidates if c.marked]
    values = {c.yuan for c in candidates}
    if len(values) != 1:
        return None
    return values.pop()


def to_fen(amount: Decimal) -> int:
    """Decimal("12.30") → 1230; raises `FractionalFen` rather than rounding."""
    if not amount.is_finite():
        raise AmountNotFinite(amount)
    fen = amount.scaleb(2)
    if fen != fen.to_integral_value():
        raise FractionalFen(amount)
    return int(fen)


def format_yuan(fen: int) -> str:
    """1234567 → "¥12,345.67"; negative amounts read "-¥12.00"."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def _candidates(text: str) -> Iterator[_Candidate]:
    pos = 0
    while (m := _MONEY.search(text, pos)) is not None:
        candidate = _candidate(text, m)
        pos = m.end() if candidate is None else candidate.end
        if candidate is not None:
            yield candidate


def _candidate(text: str, m: re.Match[str]) -> _Candidate | None:
    """The amount one regex match stands for (with its tail), or None when it is not money."""
    prefix, number, unit = m["prefix"], m["number"], (m["unit"] or "").lower()
    if prefix and prefix.strip() == "$":
        return None
    if _NOT_MONEY_BEFORE.search(text, 0, m.start()):
        return None
    marked = bool(prefix or unit)
    if not marked and len(number) == 1:
        if not number.isdigit() or _DAY_NAME_BEFORE.search(text, 0, m.start()):
            return None  # 一下, 张三, 十分, 周5
    if number.isdigit() and (len(number) >= IDENTIFIER_DIGITS_MIN or number[0] == "0" != number):
        return None  # 13800138000, 007
    if "," in number and not (marked and _COMMA_GROUPED.fullmatch(number)):
        return None  # "500,300" is two numbers after normalize turned "，" into ","
    yuan = _read_numeral(number)
    if yuan is None:
        return None
    if m["multiplier"]:
        if not marked:
            return None  # 1k, 5w: too casual to move money on
        yuan *= _MULTIPLIERS[m["multiplier"].lower()]
    end = m.end()
    if unit:
        yuan *= _UNIT_SCALES[unit]
        extra, end = _read_tail(text, end, unit)
        yuan += extra
    elif _NOT_MONEY_AFTER.match(text, end):
        return None
    if _APPROXIMATE_AFTER.match(text, end):
        return None
    if yuan <= 0 or yuan > AMOUNT_YUAN_MAX or yuan != yuan.quantize(_FEN):
        return None
    return _Candidate(yuan.quantize(_FEN), marked, end)


def _read_tail(text: str, pos: int, unit: str) -> tuple[Decimal, int]:
    """The 五 of 五块五 and the 二毛五 of 三块二毛五: (yuan to add, where the amount ends)."""
    if unit in _YUAN_UNITS_WITH_TAIL:
        m = _YUAN_TAIL.match(text, pos)
        scale = _JIAO
    elif unit in _JIAO_UNITS_WITH_TAIL:
        m = _JIAO_TAIL.match(text, pos)
        scale = _FEN
    else:
        return Decimal(0), pos
    if m is None:
        return Decimal(0), pos
    if m.end() < len(text) and text[m.end()] in _NUMERAL_CHARS:
        raise _Ambiguous  # 五块五十, 3块50: 5.50? 5 and 50?
    if m["half"]:
        return scale * 5, m.end()
    if text[m.end() - 1] not in "分毛角钱" and _NOT_MONEY_AFTER.match(text, m.end()):
        return Decimal(0), pos  # 500元2笔: the 2 counts something else
    groups = m.groupdict()
    jiao = _digit(groups.get("jiao"))
    fen = _digit(groups.get("fen")) or _digit(groups.get("fen_after_zero"))
    if unit in _JIAO_UNITS_WITH_TAIL:
        return fen * _FEN, m.end()
    return jiao * _JIAO + fen * _FEN, m.end()


def _digit(char: str | None) -> int:
    if not char:
        return 0
    return int(char) if char.isdigit() else _DIGITS[char]


def _read_numeral(span: str) -> Decimal | None:
    """"一千二" → 1200, "1.5万" → 15000, "五点五" → 5.5; None for "七八百", "千万", "1.005"."""
    whole, point, fraction = span.partition("点")
    if point and (not fraction or len(fraction) > FRACTION_DIGITS_MAX):
        return None
    value = _read_whole(whole, allow_abbreviation=not point)
    if value is None:
        return None
    if point:
        value += Decimal("0." + "".join(str(_DIGITS[c]) for c in fraction))
    return value


def _read_whole(span: str, *, allow_abbreviation: bool) -> Decimal | None:
    """Sections of 亿 and 万, each built from digits times 十百千, read left to right.

    A digit right after a unit abbreviates the next unit down: 一千二 = 1200, 一万五 = 15000,
    2万5 = 25000; a 零 in between stops that: 一百零五 = 105.
    """
    total = Decimal(0)  # whole 亿 groups
    high = Decimal(0)  # the 万 part of the current 亿 group
    section = Decimal(0)  # below 万
    pending: Decimal | None = None  # a number waiting for its unit
    pending_is_digit = False
    after_zero = False
    last_unit: int | None = None
    smallest_unit = 10**4  # small units inside a section must decrease
    for token in _WHOLE_TOKEN.findall(span):
        if token[0].isdigit():
            if pending is not None:
                return None
            arabic = _read_arabic(token)
            if arabic is None:
                return None
            pending, pending_is_digit = arabic, len(token) == 1
        elif token in _DIGITS:
            if pending is not None:
                return None  # 七八, 一二三: a range or a digit string, not an amount
            if _DIGITS[token] == 0:
                after_zero = True
                continue
            pending, pending_is_digit = Decimal(_DIGITS[token]), True
        elif token in _SMALL_UNITS:
            unit = _SMALL_UNITS[token]
            if unit >= smallest_unit:
                return None  # 五十百
            if pending is None:
                if unit != 10:
                    return None  # 百, 千万
                pending = Decimal(1)  # 十五
            section += pending * unit
            pending, last_unit, smallest_unit, after_zero = None, unit, unit, False
        elif token in _BIG_UNITS:
            unit = _BIG_UNITS[token]
            if pending is not None:
                section += pending
            if section == 0:
                return None  # 万一, 亿万
            if unit == 10**4:
                if high:
                    return None  # 一万二万
                high = section * unit
            else:
                if total:
                    return None
                total = (high + section) * unit
                high = Decimal(0)
            section, pending, after_zero = Decimal(0), None, False
            last_unit, smallest_unit = unit, 10**4
        else:
            return None
    if pending is not None:
        if last_unit and not after_zero and pending_is_digit:
            if not allow_abbreviation:
                return None  # 一千二点五
            pending *= last_unit // 10
        elif last_unit and pending >= last_unit:
            return None  # 1千5000
        section += pending
    return total + high + section


def _read_arabic(token: str) -> Decimal | None:
    if "," in token and not _COMMA_GROUPED.fullmatch(token):
        return None
    _, _, fraction = token.partition(".")
    if len(fraction) > FRACTION_DIGITS_MAX:
        return None  # 1.005: a typo or a European thousands point
    return Decimal(token.replace(",", ""))
