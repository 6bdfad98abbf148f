"""Money amounts in a customer's message: "转五百块给张三" → Decimal("500.00").

`read_amount` never converts the whole sentence. A tokenizer cuts the text into numerals (Arabic
digits, 一二三…, 壹贰叁…, 十百千万亿), money words (¥, 元, 块, 毛, 分钱, 整) and the words that change
what a number means: 多, 左右, 大概 (approximate), 天, 笔, 尾号 (not money), 不对, 改成 (a correction).
A small exact reader turns each numeral, with its unit and tail (五块五, 三块二毛五), into a mention:

    an amount        a Decimal to the fen (negative after -, 负)
    a vague amount   两三百, 一千多, 几百块, 五百左右, 大概两百, 500到600; also money that
                     cannot be read to the fen (五块五十, 500.001元)
    nothing          7天, 一笔, 3点, 尾号1234, 13800138000, 2026-11-25, 100美元, 一分钱都没了,
                     the 三 of 张三 (but 王五二十块 is ¥20: a name's last digit glued to an amount)

The reading of the whole message (`AmountReading.kind`):

    exact      one amount (said once or repeated: "500,就500"), or the last one after a
               correction (先转200,不对转300 → 300; 不是200是300 → 300)
    several    two or more different amounts and no correction between them
    vague      no amount, but approximate or unreadable money
    negative   the one amount is below zero (-5元, 负五元)
    zero       the one amount is zero (0元, 零块)
    none       no money at all

An amount written with ¥, 元, 块 or 毛 outranks a bare number ("余额1000,转500元" → 500), and a
vague one never competes with an exact one ("余额一千多,转500" → 500). Amounts are read whatever
their size up to `AMOUNT_YUAN_MAX`: refusing large ones (over ¥50,000) is the caller's job.
`parse_amount` is the narrow answer older callers use: the Decimal of an exact reading, else None.

Errors: `AmountError > {FractionalFen, AmountNotFinite}` (raised by `to_fen` only).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, NamedTuple

AMOUNT_YUAN_MAX = Decimal(10) ** 10
TEXT_CHARS_MAX = 2000
FRACTION_DIGITS_MAX = 2
IDENTIFIER_DIGITS_MIN = 11  # an unbroken run this long is a phone, card or ID number
RANGE_MEMBERS_MAX = 2  # 500-600 is a range; 2026-11-25 and 138-0013-8000 are not money
HEDGE_REACH_TOKENS_MAX = 8  # 大概 makes an amount vague this many tokens on (大概是转两百)

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


AmountKind = Literal["exact", "none", "vague", "several", "negative", "zero"]


@dataclass(frozen=True)
class AmountReading:
    """What a message says about money; `amount` and `span` are set for kind "exact" only.

    `amounts` holds every definite amount found (negative and zero ones included), in order of
    appearance, each value once; `span` is where the chosen amount is written, its ¥, unit and
    tail included: `text[slice(*reading.span)] == "五块五"`.
    """

    kind: AmountKind
    amount: Decimal | None = None
    amounts: tuple[Decimal, ...] = ()
    span: tuple[int, int] | None = None


def read_amount(text: str) -> AmountReading:
    """How `text` (already `textnorm.normalize`d) names an amount of money; see the module doc."""
    if not text or len(text) > TEXT_CHARS_MAX:
        return AmountReading("none")
    tokens = _tokenize(text)
    mentions = _mentions(tokens)
    found = _distinct(m.value for m in mentions if m.value is not None)
    return _verdict(_after_last_correction(mentions, _correction_points(tokens, mentions)), found)


def parse_amount(text: str) -> Decimal | None:
    """The one amount of yuan in `text` (already `textnorm.normalize`d), to the fen, or None."""
    return read_amount(text).amount


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


# --- Tokens ---------------------------------------------------------------------------------------

_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7,
    "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "万": 10**4, "亿": 10**8}
_BIG_UNITS = {10**4, 10**8}
_CAPITALS = set("壹贰叁肆伍陆柒捌玖拾佰仟")  # cheque numerals: always money
_MULTIPLIERS = {"k": 1000, "w": 10**4}
_UNIT_SCALES = {"yuan": Decimal(1), "currency": Decimal(1), "jiao": _JIAO, "fen": _FEN}

_WORDS_BY_KIND = {
    "digit": tuple(_DIGITS),
    "unit": tuple(_UNITS),
    "approx": ("几", "上百", "上千", "上万", "数十", "数百", "数千", "数万", "百把", "千把", "万把"),  # vague
    "point": ("点",),
    "currency": ("¥", "rmb", "cny", "人民币"),
    "foreign": (
        "$", "usd", "hkd", "eur", "gbp", "jpy", "krw", "aud", "cad", "twd", "sgd", "美元", "美金", "刀",
        "港币", "港元", "欧元", "英镑", "日元", "韩元", "澳元", "加元", "卢布", "泰铢", "台币", "新台币",
    ),
    "yuan": ("块钱", "元钱", "块", "元", "圆"),
    "jiao": ("毛钱", "毛", "角"),
    "fen": ("分钱",),
    "whole": ("整",),
    "half": ("半",),
    "minus": ("-", "−", "负"),
    "range": ("到", "至", "~"),
    "separator": ("/", ":"),
    "about": ("多", "余", "来", "左右", "上下", "出头", "开外"),  # after a number: 五百多
    "bound": (
        "约", "将近", "接近", "至少", "最少", "起码", "最多", "至多", "不到", "不超过", "不足",
        "超过", "多于", "少于",
    ),  # right before a number: 约500元
    "hedge": ("大概", "大约", "差不多", "估计", "大致"),  # anywhere before it in the clause
    "correction": (
        "不对", "改成", "改为", "换成", "应该是", "我是说", "哦不", "说错了", "打错了", "写错了",
        "输错了",
    ),
    "negation": ("不是",),
    "is": ("是", "而是"),
    "counter": (
        "天", "日", "号", "月", "年", "周", "星期", "礼拜", "小时", "分", "秒", "钟", "个", "笔",
        "次", "张", "位", "岁", "%", "‰", "折", "倍", "人", "条", "期", "楼", "层", "遍", "件",
        "份", "台", "页", "斤", "克", "米", "公里", "度", "级", "名", "项", "单", "户", "家", "积分",
    ),
    "identifier": (
        "尾号", "卡号", "账号", "帐号", "号码", "编号", "单号", "订单", "订单号", "流水号", "验证码",
        "密码", "工号", "身份证", "手机", "手机号", "电话",
    ),
    "ordinal": ("第", "双"),
    "day": ("初",),  # with 周, 星期, 礼拜 (counters): 周5, 初8 are days, not money
    "pause": (",", "。", "!", "?", ";", "、", "…"),
    # Words whose characters would otherwise be misread: 余额 is no 余 (approximately), 块儿 no 块.
    "word": ("余额", "多少", "来着", "块儿", "零钱", "对不对", "是不是", "就是", "还是", "但是", "可是"),
}  # fmt: skip
_KIND_OF_WORD = {word: kind for kind, words in _WORDS_BY_KIND.items() for word in words}
_DAY_WORDS = {"周", "星期", "礼拜", "初"}
_IDENTIFIER_GLUE = {" ", ":", "是", "为"}  # 卡号是 6222…, 尾号: 1234

_ARABIC = r"[0-9]{1,3}(?:,[0-9]{3})+(?![0-9]|,[0-9])(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?"
_LONG_WORDS = sorted((word for word in _KIND_OF_WORD if len(word) > 1), key=len, reverse=True)
_TOKEN = re.compile(
    rf"(?P<number>{_ARABIC})"
    rf"|(?P<word>{'|'.join(map(re.escape, _LONG_WORDS))})"
    r"|(?P<letters>[a-z]+)"
    r"|(?P<space>\s+)"
    r"|(?P<char>.)",  # a one-character word (五, 块, 多…) or any other character
    re.IGNORECASE | re.DOTALL,
)
_LISTED_PAIR = re.compile(r"([0-9]{3}),([1-9][0-9]{2})")  # 500,300: two numbers, unless ¥ or 元 marks it

_NUMERAL_KINDS = {"number", "digit", "unit", "approx"}
_MONEY_UNIT_KINDS = {"yuan", "jiao", "fen", "currency"}
_NOT_MONEY_AFTER_KINDS = {"counter", "point", "foreign"}  # 3天, 3点, 100美元


class _Token(NamedTuple):
    kind: str
    text: str
    start: int
    end: int


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "char"
        if kind in ("word", "char"):
            kind = _KIND_OF_WORD.get(m.group().lower(), "other")
        tokens.append(_Token(kind, m.group(), m.start(), m.end()))
    return _split_listed_numbers(tokens)


def _split_listed_numbers(tokens: list[_Token]) -> list[_Token]:
    """"转了500,300是手续费" lists two numbers; "¥500,300" and "500,300元" are one."""
    out: list[_Token] = []
    for i, token in enumerate(tokens):
        m = _LISTED_PAIR.fullmatch(token.text) if token.kind == "number" else None
        if m is None or _is_marked_number(tokens, i):
            out.append(token)
            continue
        comma = token.start + 3
        out += [
            _Token("number", m[1], token.start, comma),
            _Token("pause", ",", comma, comma + 1),
            _Token("number", m[2], comma + 1, token.end),
        ]
    return out


def _is_marked_number(tokens: Sequence[_Token], i: int) -> bool:
    """¥ before tokens[i] or 元, 块, 毛… after it, spaces allowed between."""
    before, after = _skip_spaces_back(tokens, i - 1), _skip_spaces(tokens, i + 1)
    return _kind_at(tokens, before) == "currency" or _kind_at(tokens, after) in _MONEY_UNIT_KINDS


def _skip_spaces(tokens: Sequence[_Token], i: int) -> int:
    while i < len(tokens) and tokens[i].kind == "space":
        i += 1
    return i


# --- Numerals -------------------------------------------------------------------------------------


class _Approximate:
    """The value of 两三百, 几千, 上万: some number, not one we may guess."""


_APPROXIMATE = _Approximate()
_RANGE_PAIRS = {(a, a + 1) for a in range(1, 9)} | {(3, 5)}  # 两三百, 七八千, 三五百


def _phrase_end(tokens: Sequence[_Token], i: int) -> int:
    """Where the numeral starting at tokens[i] ends: 一万零五百, 1.5万, 五点五, 2万3千."""
    j = i
    while j < len(tokens) and tokens[j].kind in _NUMERAL_KINDS:
        if j > i and _breaks_numeral(tokens[j - 1], tokens[j]):
            break
        j += 1
    if j > i and j + 1 < len(tokens) and tokens[j].kind == "point" and tokens[j + 1].kind == "digit":
        j += 1  # 五点五, 一点五万
        while j < len(tokens) and tokens[j].kind == "digit":
            j += 1
        if j < len(tokens) and tokens[j].kind in _NUMERAL_KINDS - {"digit"}:
            j += 1  # the reader accepts a lone 万, 千 or 亿 here and nothing else (三点五十 is a time)
    return j


def _breaks_numeral(left: _Token, right: _Token) -> bool:
    """王五500: a Chinese digit glued to an Arabic number ends a name; 500五 is two numbers."""
    kinds = {left.kind, right.kind}
    zero = _DIGITS.get(left.text) == 0 or _DIGITS.get(right.text) == 0  # 5万零1, 1千零5
    return kinds == {"digit", "number"} and not zero or kinds == {"number"}


def _read_numeral(phrase: Sequence[_Token]) -> Decimal | _Approximate | None:
    """一千二 → 1200, 1.5万 → 15000, 五点五 → 5.5, 两三百 → _APPROXIMATE; None for 千万, 一千二点五."""
    points = [k for k, t in enumerate(phrase) if t.kind == "point"]
    whole, fraction = (phrase[: points[0]], phrase[points[0] + 1 :]) if points else (phrase, [])
    if any(t.kind == "approx" for t in phrase) or _has_range_pair(whole):
        return _APPROXIMATE
    if not points:
        return _read_whole(phrase, allow_abbreviation=True)
    scale = 1
    if fraction and fraction[-1].kind != "digit":
        if fraction[-1].kind != "unit" or _UNITS[fraction[-1].text] < 1000:
            return None
        scale, fraction = _UNITS[fraction[-1].text], fraction[:-1]
    if not fraction or len(fraction) > FRACTION_DIGITS_MAX:
        return None
    value = _read_whole(whole, allow_abbreviation=False)
    if value is None:
        return None
    value += Decimal("0." + "".join(str(_DIGITS[t.text]) for t in fraction))
    return value * scale


def _has_range_pair(phrase: Sequence[_Token]) -> bool:
    """Exactly two Chinese digits side by side, in a pair people use for a range (两三, 七八)."""
    values = [_DIGITS[t.text] if t.kind == "digit" else None for t in phrase]
    for k in range(len(values) - 1):
        pair = (values[k], values[k + 1])
        alone = (k == 0 or values[k - 1] is None) and (k + 2 == len(values) or values[k + 2] is None)
        if alone and pair in _RANGE_PAIRS:
            return True
    return False


def _read_whole(phrase: Sequence[_Token], *, allow_abbreviation: bool) -> Decimal | None:
    """Sections of 亿 and 万, each built from digits times 十百千, read left to right.

    A digit right after a unit abbreviates the next unit down: 一千二 = 1200, 一万五 = 15000,
    2万5 = 25000; a 零 in between stops that: 一百零五 = 105, 1千零5 = 1005.
    """
    total = Decimal(0)  # whole 亿 groups
    high = Decimal(0)  # the 万 part of the current 亿 group
    section = Decimal(0)  # below 万
    pending: Decimal | None = None  # a number waiting for its unit
    pending_is_digit = False
    after_zero = False
    last_unit: int | None = None
    smallest_unit = 10**4  # small units inside a section must decrease
    for token in phrase:
        if token.kind == "number":
            if pending is not None:
                return None
            pending = _read_arabic(token.text)
            if pending is None:
                return None
            pending_is_digit = len(token.text) == 1
        elif token.kind == "digit":
            if pending is not None:
                return None  # 一二三: a digit string, not an amount
            if _DIGITS[token.text] == 0:
                after_zero = True
                continue
            pending, pending_is_digit = Decimal(_DIGITS[token.text]), True
        elif token.kind == "unit" and _UNITS[token.text] not in _BIG_UNITS:
            unit = _UNITS[token.text]
            if unit >= smallest_unit:
                return None  # 五十百
            if pending is None:
                if unit != 10:
                    return None  # 百, 千万
                pending = Decimal(1)  # 十五
            section += pending * unit
            pending, last_unit, smallest_unit, after_zero = None, unit, unit, False
        elif token.kind == "unit":
            unit = _UNITS[token.text]
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


def _read_arabic(text: str) -> Decimal | None:
    _, _, fraction = text.partition(".")
    if len(fraction) > FRACTION_DIGITS_MAX:
        return None  # 1.005: a typo or a European thousands point
    return Decimal(text.replace(",", ""))


def _small_digit(token: _Token | None) -> int | None:
    """The 五 of 五块五 or the 5 of 5块5: one digit, Chinese or Arabic."""
    if token is None:
        return None
    if token.kind == "digit":
        return _DIGITS[token.text]
    if token.kind == "number" and len(token.text) == 1:
        return int(token.text)
    return None


# --- Mentions -------------------------------------------------------------------------------------


class _Mention(NamedTuple):
    value: Decimal | None  # None: vague
    marked: bool  # written with ¥, RMB, 元, 块 or 毛: a stronger claim than a bare number
    start: int
    end: int


class _Before(NamedTuple):
    """What precedes a numeral: ¥, a minus sign, or a word that makes it no amount or a vague one."""

    start: int  # where the mention starts: at the ¥ when there is one
    currency: bool
    negative: bool
    not_money: bool  # 尾号1234, 第5, iPhone15, +86
    vague: bool  # 约500, 大概两百
    day: bool  # 周5, 初8: a bare single digit there is a day


class _After(NamedTuple):
    """What follows a numeral: k or w, 多 or 左右, the money unit and its tail (五块五)."""

    end: int  # the token index after the mention
    multiplier: int = 1
    unit: str | None = None  # a kind of _MONEY_UNIT_KINDS
    tail: Decimal = Decimal(0)
    about: bool = False  # 五百多, 五百块左右
    not_money: bool = False  # 3天, 5kg, 100美元, 1.2.3
    unreadable: bool = False  # 五块五十, 3块50


class _Unreadable(Exception):
    """Internal: money is written here, but no exact amount can be read from it (五块五十)."""


def _mentions(tokens: Sequence[_Token]) -> list[_Mention]:
    """Every money mention, in order."""
    mentions: list[_Mention] = []
    i = 0
    while i < len(tokens):
        if tokens[i].kind not in _NUMERAL_KINDS:
            i += 1
            continue
        chain, links, i = _chain_at(tokens, i)
        mentions += _join_chain(chain, links)
    return mentions


def _chain_at(tokens: Sequence[_Token], i: int) -> tuple[list[_Mention | None], list[str], int]:
    """Numerals linked by 到, ~, -, / or : (500到600, 2026-11-25, 200/250, 15:30), each read on its own."""
    chain: list[_Mention | None] = []
    links: list[str] = []
    while True:
        mention, i = _mention_at(tokens, i)
        chain.append(mention)
        link = _link_at(tokens, i)
        if link is None:
            return chain, links, i
        links.append(link)
        i += 1


def _link_at(tokens: Sequence[_Token], i: int) -> str | None:
    """到 or ~ before a numeral; -, / or : between Arabic numbers (王五-100 is a minus sign)."""
    if i + 1 >= len(tokens) or tokens[i + 1].kind not in _NUMERAL_KINDS:
        return None
    if tokens[i].kind == "range":
        identifier = _is_identifier(tokens[i + 1 : _phrase_end(tokens, i + 1)])
        return None if identifier else tokens[i].text  # 转1万块到18612345678: 到 is "to"
    if tokens[i].text in {"-", "/", ":"} and _kind_at(tokens, i - 1) in _MONEY_UNIT_KINDS | {"number"}:
        return tokens[i].text
    return None


def _join_chain(chain: list[_Mention | None], links: list[str]) -> list[_Mention]:
    """500到600 and 500-600元 are one vague range; 200/250 two amounts; 3到5天, 11/25, 15:30 no money."""
    if not links:
        return [m for m in chain if m is not None]
    first, last = chain[0], chain[-1]
    if first is None or last is None or len(chain) > RANGE_MEMBERS_MAX or links == [":"]:
        return []
    if links == ["/"]:
        return [] if _is_month_and_day(first, last) else [first, last]
    if links == ["-"] and not (first.marked or last.marked):
        return []  # 500-600 looks like a code; 500-600元 is a range
    return [_Mention(None, True, first.start, last.end)]


def _is_month_and_day(first: _Mention, last: _Mention) -> bool:
    """11/25 is a date; 200/250 two amounts."""
    month, day = first.value, last.value
    if month is None or day is None or first.marked or last.marked:
        return False
    whole = month == month.to_integral_value() and day == day.to_integral_value()
    return whole and 1 <= month <= 12 and 1 <= day <= 31


def _mention_at(tokens: Sequence[_Token], i: int) -> tuple[_Mention | None, int]:
    """The mention whose numeral starts at tokens[i] (None when it is not money) and the index after it."""
    end = _phrase_end(tokens, i)
    phrase = tokens[i:end]
    value = _read_numeral(phrase)
    if value is None and _is_name_then_numeral(phrase):
        return None, i + 1  # 王五二十块: read again from 二
    before, after = _before(tokens, i), _after(tokens, end, phrase)
    if before.not_money or after.not_money or _is_not_even_one(phrase, tokens, after.end):
        return None, end
    marked = before.currency or after.unit is not None
    if not marked and (after.multiplier != 1 or _is_identifier(phrase) or _is_lone(phrase, before, after)):
        return None, end  # 1k, 13800138000, 007, 张三, 周5
    start, stop = before.start, tokens[after.end - 1].end
    vague = _Mention(None, True, start, stop)
    if after.unreadable or before.vague or after.about or isinstance(value, _Approximate):
        return vague, after.end
    if value is None:
        return (vague if marked else None), after.end  # 一千二点五元; 千万
    yuan = value * after.multiplier * _UNIT_SCALES[after.unit or "yuan"] + after.tail
    if yuan > AMOUNT_YUAN_MAX or yuan != yuan.quantize(_FEN):
        return (vague if marked else None), after.end  # 500.001元
    if before.negative:
        yuan = -yuan
    return _Mention(yuan.quantize(_FEN), marked, start, stop), after.end


def _is_name_then_numeral(phrase: Sequence[_Token]) -> bool:
    """王五二十块, 张三一块零五分, 李四两百五: a digit ending a name, glued to the amount after it."""
    first = phrase[0]
    return (
        len(phrase) > 1
        and first.kind == "digit"
        and _DIGITS[first.text] != 0
        and _read_numeral(phrase[1:]) not in (None, _APPROXIMATE)
    )


def _is_not_even_one(phrase: Sequence[_Token], tokens: Sequence[_Token], j: int) -> bool:
    """一分钱都没了, 一毛也不给: "not a single cent" is no amount."""
    if len(phrase) != 1 or phrase[0].text != "一" or _text_at(tokens, j) not in {"都", "也"}:
        return False
    return (_text_at(tokens, j + 1) or "")[:1] in {"没", "不"}


def _is_identifier(phrase: Sequence[_Token]) -> bool:
    """13800138000, 6222021234567890123, 007: digits that name, not count."""
    if len(phrase) != 1 or not phrase[0].text.isdigit():
        return False
    digits = phrase[0].text
    return len(digits) >= IDENTIFIER_DIGITS_MIN or (digits[0] == "0" and len(digits) > 1)


def _is_lone(phrase: Sequence[_Token], before: _Before, after: _After) -> bool:
    """The 一 of 一下, 三 of 张三, 十 of 十分感谢, 5 of 周5: one bare character is no amount (十多 is vague)."""
    if len(phrase) != 1 or len(phrase[0].text) != 1:
        return False
    if phrase[0].kind == "unit" and after.about:
        return False  # 十多, 百来 (but 一来 is "firstly")
    return phrase[0].kind != "number" or before.day


def _before(tokens: Sequence[_Token], i: int) -> _Before:
    """Read backwards from the numeral at tokens[i]: [-] [¥] [-] numeral; 尾号, 第, 约, 大概…"""
    start = tokens[i].start
    k = i - 1
    negative = _is_sign(tokens, k)
    if negative:
        k -= 1
    currency = _kind_at(tokens, _skip_spaces_back(tokens, k)) == "currency"
    if currency:
        k = _skip_spaces_back(tokens, k)
        start, k = tokens[k].start, k - 1
        if _is_sign(tokens, k):
            negative, k = True, k - 1
    adjacent = tokens[k] if k >= 0 else None
    p = _skip_spaces_back(tokens, k)
    previous = tokens[p] if p >= 0 else None
    not_money = (
        adjacent is not None
        and (adjacent.kind == "letters" or adjacent.text in {".", "+"})  # iPhone15, .5, +86
        or previous is not None
        and previous.kind in {"ordinal", "foreign"}  # 第5, $100
        or _follows_identifier(tokens, p)
    )
    vague = previous is not None and previous.kind == "bound" or _hedged(tokens, p)
    day = adjacent is not None and adjacent.text in _DAY_WORDS
    return _Before(start, currency, negative, not_money, vague, day)


def _skip_spaces_back(tokens: Sequence[_Token], k: int) -> int:
    while k >= 0 and tokens[k].kind == "space":
        k -= 1
    return k


def _is_sign(tokens: Sequence[_Token], k: int) -> bool:
    """负 always; - unless it joins an Arabic number or a word to this one (2026-11-25, v1.2-3)."""
    if k < 0 or tokens[k].kind != "minus":
        return False
    return tokens[k].text == "负" or k == 0 or tokens[k - 1].kind not in {"number", "letters", "point"}


def _follows_identifier(tokens: Sequence[_Token], k: int) -> bool:
    """尾号1234, 卡号是 6222…, 验证码:123456."""
    while k >= 0 and (tokens[k].text in _IDENTIFIER_GLUE or tokens[k].kind == "space"):
        k -= 1
    return k >= 0 and tokens[k].kind == "identifier"


def _hedged(tokens: Sequence[_Token], k: int) -> bool:
    """大概转两百: a hedge a few tokens earlier in the same clause."""
    for token in reversed(tokens[max(0, k + 1 - HEDGE_REACH_TOKENS_MAX) : k + 1]):
        if token.kind == "pause":
            return False
        if token.kind == "hedge":
            return True
    return False


def _after(tokens: Sequence[_Token], j: int, phrase: Sequence[_Token]) -> _After:
    """Read forwards from the end of a numeral: [k|w] [多|来|左右] [unit [tail]] [左右|上下]."""
    multiplier = 1
    if _kind_at(tokens, j) == "letters" and tokens[j].text.lower() in _MULTIPLIERS:
        multiplier, j = _MULTIPLIERS[tokens[j].text.lower()], j + 1
    about = _is_about(tokens, _skip_spaces(tokens, j))
    if about:
        j = _skip_spaces(tokens, j) + 1
    unit_at = _skip_spaces(tokens, j)
    unit = _money_unit(tokens, unit_at, phrase)
    if unit is None:
        following = _kind_at(tokens, unit_at)
        not_money = (
            following in _NOT_MONEY_AFTER_KINDS
            or following == "letters" and unit_at == j  # 5kg; "300 to 李四" is still 300
            or _text_at(tokens, j) == "." and _kind_at(tokens, j + 1) == "number"  # 1.2.3
        )
        return _After(j, multiplier, about=about, not_money=not_money)
    try:
        tail, j = _read_tail(tokens, unit_at + 1, tokens[unit_at])
    except _Unreadable:
        return _After(_skip_money_words(tokens, unit_at + 1), multiplier, unit, unreadable=True)
    if _is_about(tokens, _skip_spaces(tokens, j)):
        about, j = True, _skip_spaces(tokens, j) + 1
    return _After(j, multiplier, unit, tail, about)


def _money_unit(tokens: Sequence[_Token], i: int, phrase: Sequence[_Token]) -> str | None:
    """The kind of the money word at tokens[i]: 元 or 块 (yuan), 毛 (jiao), 分钱 (fen), RMB (currency).

    A bare 分 is a minute or a point (5分, 十分感谢) unless the numeral is written in capitals (伍分).
    """
    kind = _kind_at(tokens, i)
    if kind in _MONEY_UNIT_KINDS:
        return kind
    if _text_at(tokens, i) == "分" and any(t.text in _CAPITALS for t in phrase):
        return "fen"
    return None


def _kind_at(tokens: Sequence[_Token], i: int) -> str | None:
    return tokens[i].kind if 0 <= i < len(tokens) else None


def _text_at(tokens: Sequence[_Token], i: int) -> str | None:
    return tokens[i].text if 0 <= i < len(tokens) else None


def _is_about(tokens: Sequence[_Token], i: int) -> bool:
    """五百多, 500来块, 五百左右, 五百不到."""
    return _kind_at(tokens, i) == "about" or _text_at(tokens, i) == "不到"


def _skip_money_words(tokens: Sequence[_Token], j: int) -> int:
    """Past the numerals and money words of something unreadable (五块五十, 3块50元)."""
    while _kind_at(tokens, j) in _NUMERAL_KINDS | _MONEY_UNIT_KINDS | {"point", "whole", "half"}:
        j += 1
    return j


def _read_tail(tokens: Sequence[_Token], j: int, unit: _Token) -> tuple[Decimal, int]:
    """The 五 of 五块五, the 零五分 of 三块零五分, the 二毛五 of 三块二毛五: (yuan to add, where it ends).

    Raises `_Unreadable` when more numerals follow that belong to no reading (五块五十, 3块50).
    """
    if _kind_at(tokens, j) == "whole":
        return Decimal(0), j + 1  # 500元整
    if unit.kind == "jiao":
        fen, j = _read_fen(tokens, j)
        return fen, _after_tail(tokens, j)
    if unit.kind != "yuan" or unit.text.endswith("钱"):
        return Decimal(0), j
    if _kind_at(tokens, j) == "half":
        return Decimal("0.5"), _after_tail(tokens, j + 1)
    after_zero = _DIGITS.get(_text_at(tokens, j) or "") == 0
    first = j + 1 if after_zero else j
    digit = _small_digit(tokens[first] if first < len(tokens) else None)
    if digit is None:
        if j < len(tokens) and tokens[j].kind in _NUMERAL_KINDS and not _starts_own_amount(tokens, j):
            raise _Unreadable  # 3块50
        return Decimal(0), j
    unit_kind = _kind_at(tokens, first + 1)
    if unit_kind == "jiao":  # 三块二毛五, 十块零五毛
        fen, k = _read_fen(tokens, first + 2)
        return digit * _JIAO + fen, _after_tail(tokens, k)
    if unit_kind == "fen" or _text_at(tokens, first + 1) == "分":  # 三块零五分
        return digit * _FEN, _after_tail(tokens, first + 2)
    if _starts_own_amount(tokens, first):
        return Decimal(0), j  # 500元2笔, 5元5元
    if first + 1 < len(tokens) and tokens[first + 1].kind in _NUMERAL_KINDS | {"point"}:
        raise _Unreadable  # 五块五十
    return digit * (_FEN if after_zero else _JIAO), _after_tail(tokens, first + 1)  # 一块零五, 五块五


def _read_fen(tokens: Sequence[_Token], j: int) -> tuple[Decimal, int]:
    """The 五 (or 五分, or 半) after 八毛: (yuan, where it ends); (0, j) when no digit is there."""
    if _kind_at(tokens, j) == "half":
        return _FEN * 5, j + 1
    digit = _small_digit(tokens[j] if j < len(tokens) else None)
    if digit is None:
        return Decimal(0), j
    if _text_at(tokens, j + 1) in {"分", "分钱"}:
        return digit * _FEN, j + 2
    if _starts_own_amount(tokens, j):
        return Decimal(0), j
    return digit * _FEN, j + 1


def _starts_own_amount(tokens: Sequence[_Token], j: int) -> bool:
    """After 500元: 2笔 counts something else, 300元 is a second amount; 五一斤 (of 五块五一斤) is neither."""
    end = _phrase_end(tokens, j)
    following = _kind_at(tokens, _skip_spaces(tokens, end))
    own = following in _MONEY_UNIT_KINDS | _NOT_MONEY_AFTER_KINDS - {"point"}
    return own and _read_numeral(tokens[j:end]) is not None


def _after_tail(tokens: Sequence[_Token], j: int) -> int:
    """Past a closing 钱 or 整; refuses more numerals glued to the tail (五块五毛五十)."""
    if _kind_at(tokens, j) == "whole" or _text_at(tokens, j) == "钱":
        j += 1
    if _kind_at(tokens, j) in _NUMERAL_KINDS and not _starts_own_amount(tokens, j):
        raise _Unreadable
    return j


# --- Verdict --------------------------------------------------------------------------------------


def _correction_points(tokens: Sequence[_Token], mentions: Sequence[_Mention]) -> list[int]:
    """Where the customer corrects an amount: 不对, 改成, 我是说…, and the 是 of 不是200是300."""
    points = [t.start for t in tokens if t.kind == "correction"]
    mention_starts = [m.start for m in mentions]
    is_starts = [t.start for t in tokens if t.kind == "is"]
    for negation in (t for t in tokens if t.kind == "negation"):
        k = bisect_left(mention_starts, negation.end)
        if k == len(mentions):
            continue
        rejected = mentions[k]
        k = bisect_left(is_starts, rejected.end)
        if k < len(is_starts):
            points.append(is_starts[k])
    return points


def _after_last_correction(mentions: list[_Mention], points: Iterable[int]) -> list[_Mention]:
    """The mentions after the last correction that has one before it and one after it."""
    for point in sorted(points, reverse=True):
        after = [m for m in mentions if m.start >= point]
        if after and any(m.end <= point for m in mentions):
            return after
    return mentions


def _verdict(mentions: Sequence[_Mention], found: tuple[Decimal, ...]) -> AmountReading:
    amounts = [m for m in mentions if m.value is not None]
    if any(m.marked for m in amounts):
        amounts = [m for m in amounts if m.marked]
    values = _distinct(m.value for m in amounts if m.value is not None)
    if not values:
        return AmountReading("vague" if mentions else "none", amounts=found)
    if len(values) > 1:
        return AmountReading("several", amounts=found)
    value = values[0]
    if value < 0:
        return AmountReading("negative", amounts=found)
    if value == 0:
        return AmountReading("zero", amounts=found)
    chosen = amounts[-1]
    return AmountReading("exact", value, found, (chosen.start, chosen.end))


def _distinct(values: Iterable[Decimal]) -> tuple[Decimal, ...]:
    return tuple(dict.fromkeys(values))
