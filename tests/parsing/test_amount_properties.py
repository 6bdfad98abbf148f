"""Every amount a customer can write is read to the fen: a seeded sweep over ¥0.01–¥50,000.

A `random.Random(SEED)` draws `AMOUNT_COUNT` amounts, biased to the tricky ones (internal zeros as
in 1005, 10500, 50001 and 2008; round amounts; x.5; cents), and renders each in the forms customers
use. The renderers below are written from the rules of written Chinese, not from the parser, and the
standard reading is checked against cn2an. Each rendering is read bare and inside a typical request,
through `textnorm.normalize` as the callers do; each failure message prints the rendering.

Families:
    arabic       500, 1,234.56, ¥500, ￥500, 500元, 500块, 500块钱, 500元整, RMB500
    full_width   ５００元, ￥１，２３４．５６ (normalised to half-width first)
    chinese      一千零五, 一万零五百, 两千零八块, 五万零一元, 三块二毛五分, 一块零五分, 八毛
    colloquial   一千二, 两万五, 两百五, 五块五, 十块零五毛, 三块二毛五, 一块零五, 5块5, 3块2毛5
    mixed        1千2, 1万5, 2万3千, 5千, 1万零5百, 5万零1, 1千零5, 一万5000, 1万零500
    capitals     伍佰, 壹仟零伍拾元, 壹拾贰元叁角肆分, 壹佰元整
    wan          1.5万, 0.5万, 1.25万, 一点五万, 2.5千

Then vague, negative, zero and two-amount messages are generated and their kinds checked.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import cache
from typing import NamedTuple

import cn2an
import pytest

from bot.parsing import AmountReading, read_amount, to_fen
from bot.textnorm import normalize

SEED = 20261129
AMOUNT_COUNT = 2000
AMOUNT_FEN_MAX = 50_000_00
FAILURES_SHOWN_MAX = 40
RENDERINGS_PER_FAMILY_MIN = 200

# The QA pass's misreadings and the brief's examples, always in the sweep (in fen).
KNOWN_TRICKY_FEN = [
    1050, 10_500_00, 50_001_00, 1005_00, 1000_00, 1050_00, 5_50, 2008_00, 305_00, 1200_00,
    250_00, 15_000_00, 5000_00, 80, 3_25, 500_00, 1234_56, 101_00, 1_05, 3_05, 25_000_00,
    23_000_00, 50_000_00, 1, 10, 99, 1_00, 2_00, 10_00, 11_00, 20_00, 110_00, 10_010_00,
    40_005_00, 10_001_00, 20_020_00,
]  # fmt: skip

SENTENCES = ["给李四转{}", "转{}给妈妈", "帮我打{}过去", "{}，转给小刘"]

DIGITS = "零一二三四五六七八九"
CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
UNITS = ("千", "百", "十", "")
CAPITAL_UNITS = ("仟", "佰", "拾", "")
UNIT_STEP_DOWN = {"百": "十", "千": "百", "万": "千"}  # 一千二 drops the 百 after 二
FULL_WIDTH = str.maketrans("0123456789,.¥-", "０１２３４５６７８９，．￥－")


# --- Amounts --------------------------------------------------------------------------------------


def draw_amounts(rng: random.Random, count: int) -> list[int]:
    """`count` different amounts in fen: the known tricky ones, then random draws biased to the tricky."""
    amounts = dict.fromkeys(KNOWN_TRICKY_FEN)
    while len(amounts) < count:
        yuan = draw_yuan(rng)
        fen = yuan * 100 + (0 if yuan == 50_000 else draw_cents(rng))
        amounts[fen or rng.randint(1, 99)] = None
    return list(amounts)


def draw_yuan(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.25:
        return rng.randint(0, 50_000)
    if pick < 0.55:  # internal zeros: 1005, 10500, 50001, 2008, 30060
        length = rng.randint(2, 5)
        digits = [rng.randint(1, 9)] + [0 if rng.random() < 0.6 else rng.randint(1, 9) for _ in range(length - 1)]
        return min(int("".join(map(str, digits))), 50_000)
    if pick < 0.75:  # round: 3000, 20000, 250, 15000
        significant = rng.choice([rng.randint(1, 9), rng.randint(11, 99)])
        return min(significant * 10 ** rng.randint(0, 4), 50_000)
    if pick < 0.9:
        return rng.randint(0, 120)
    return rng.choice([2, 10, 12, 20, 22, 100, 102, 200, 222, 2000, 2002, 20000, 22222])


def draw_cents(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.45:
        return 0
    if pick < 0.6:
        return 50
    if pick < 0.75:
        return rng.randint(1, 9) * 10
    if pick < 0.82:
        return rng.randint(1, 9)
    return rng.randint(1, 99)


@cache
def amounts() -> tuple[int, ...]:
    return tuple(draw_amounts(random.Random(SEED), AMOUNT_COUNT))


# --- Writing numbers as customers do --------------------------------------------------------------


def chinese(n: int, *, capital: bool = False, liang: bool = False) -> str:
    """The standard reading of n ≥ 0: 1005 一千零五, 10500 一万零五百, 50001 五万零一, 15 十五.

    `liang` writes 两 for a 2 before 百, 千 and 万 and for a lone 2 (两块); capitals keep 壹拾.
    """
    digits = CAPITAL_DIGITS if capital else DIGITS
    if n == 0:
        return digits[0]
    wan, rest = divmod(n, 10_000)
    text = ""
    if wan:
        text += _section(wan, capital=capital, liang=liang, two_alone=True) + "万"
    if rest:
        if wan and rest < 1000:
            text += digits[0]
        text += _section(rest, capital=capital, liang=liang, two_alone=not wan)
    if not capital and text.startswith("一十"):
        text = text[1:]  # 十五, 十万
    return text


def _section(n: int, *, capital: bool, liang: bool, two_alone: bool) -> str:
    """1 ≤ n ≤ 9999 with 千百十 and a 零 for each run of zeros between digits."""
    digits, units = (CAPITAL_DIGITS, CAPITAL_UNITS) if capital else (DIGITS, UNITS)
    out = ""
    zero = False
    for power, unit in zip((1000, 100, 10, 1), units, strict=True):
        digit = n // power % 10
        if digit == 0:
            zero = zero or bool(out)
            continue
        if zero:
            out, zero = out + digits[0], False
        word = digits[digit]
        if liang and not capital and digit == 2 and (unit in ("千", "百") or unit == "" and n == 2 and two_alone):
            word = "两"
        out += word + unit
    return out


def abbreviated(reading: str) -> str | None:
    """一千二百 → 一千二, 两万五千 → 两万五, 一百五十 → 一百五; None when nothing can be dropped."""
    if len(reading) < 4:
        return None
    unit, digit, before = reading[-1], reading[-2], reading[-3]
    if digit not in DIGITS + "两" or digit == "零" or UNIT_STEP_DOWN.get(before) != unit:
        return None
    return reading[:-1]


def arabic_digits(reading: str) -> str:
    """一万零五百 → 1万零5百: the digits Arabic, 零 and the units kept."""
    return "".join(str(DIGITS.index(c)) if c in DIGITS[1:] else "2" if c == "两" else c for c in reading)


def decimal_text(fen: int, *, grouped: bool = False, short: bool = True) -> str:
    """12345.60 → "12345.6" (short) or "12345.60"; 500.00 → "500"; grouped: "12,345.6"."""
    yuan, cents = divmod(fen, 100)
    whole = f"{yuan:,}" if grouped else str(yuan)
    if cents == 0:
        return whole
    if short and cents % 10 == 0:
        return f"{whole}.{cents // 10}"
    return f"{whole}.{cents:02d}"


def fraction_of(value: Decimal) -> str | None:
    """Decimal("1.50") → "1.5", Decimal("2") → "2", Decimal("1.234") → None (not how anyone writes it)."""
    if value != value.quantize(Decimal("0.01")):
        return None
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- Renderings, by family ------------------------------------------------------------------------


def arabic_forms(fen: int, rng: random.Random) -> Iterator[str]:
    """12345.6 or 12345.60, and 12,345.6 or 12,345.60: bare, after ¥, ￥ or RMB, before a unit, with 元整."""
    short = rng.random() < 0.5
    for number in dict.fromkeys([decimal_text(fen, short=short), decimal_text(fen, grouped=True, short=not short)]):
        yield number
        yield rng.choice(["¥", "￥", "RMB"]) + number
        yield number + rng.choice(["元", "块", "块钱", " 元", "rmb"])
        if fen % 100 == 0:
            yield number + "元整"


def full_width_forms(fen: int, rng: random.Random) -> Iterator[str]:
    """５００, ￥１，２３４．５６, ５００元: what a full-width keyboard types."""
    number = rng.choice([decimal_text(fen), decimal_text(fen, grouped=True, short=False)])
    yield number.translate(FULL_WIDTH)
    yield ("¥" + number).translate(FULL_WIDTH)
    yield number.translate(FULL_WIDTH) + rng.choice(["元", "块"])


def chinese_forms(fen: int, rng: random.Random) -> Iterator[str]:
    """The standard reading with 元/块 and 角/毛 and 分: 一万零五百, 三块二毛五分, 一元零五分, 八毛."""
    yuan, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    if yuan == 0:
        yield from small_change_forms(jiao, fen_digit, rng)
        return
    word = chinese(yuan, liang=rng.random() < 0.6)
    if cents == 0:
        if len(word) > 1:
            yield word  # a lone 五 is the 五 of 王五, not an amount: see test_amounts
        yield word + rng.choice(["元", "块", "块钱"])
        yield word + "元整"
        return
    j, f = chinese(jiao, liang=True), chinese(fen_digit, liang=True)
    if fen_digit == 0:
        yield f"{word}块{j}毛"
        yield f"{word}元{j}角"
    elif jiao == 0:
        yield f"{word}块零{f}分"
        yield f"{word}元零{f}分"
    else:
        yield f"{word}块{j}毛{f}分"
        yield f"{word}元{j}角{f}分"


def small_change_forms(jiao: int, fen_digit: int, rng: random.Random) -> Iterator[str]:
    """Less than a yuan: 八毛, 八毛五, 五角五分, 五分钱."""
    j, f = chinese(jiao, liang=rng.random() < 0.5), chinese(fen_digit, liang=rng.random() < 0.5)
    if jiao == 0:
        yield f"{f}分钱"
    elif fen_digit == 0:
        yield f"{j}毛"
        yield f"{j}角"
        yield f"{j}毛钱"
    else:
        yield f"{j}毛{f}"
        yield f"{j}角{f}分"
        yield f"{j}毛{f}分钱"


def colloquial_forms(fen: int, rng: random.Random) -> Iterator[str]:
    """Spoken shortcuts: 一千二, 两百五, 五块五, 十块零五毛, 三块二毛五, 一块零五, 一块半, 5块5, 3块零5分."""
    yuan, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    short = abbreviated(chinese(yuan, liang=rng.random() < 0.7))
    if cents == 0 and short:
        yield short  # 一千二, 两万五, 两百五
        yield short + rng.choice(["块", "块钱", "元"])
    if yuan == 0:
        return
    word = chinese(yuan, liang=True)
    j, f = chinese(jiao, liang=True), chinese(fen_digit, liang=True)
    if cents == 50:
        yield f"{word}块半"
    if jiao and not fen_digit:
        yield f"{word}块{j}"  # 五块五
        yield f"{word}块零{j}毛"  # 十块零五毛
        yield f"{yuan}块{jiao}"  # 5块5
        yield f"{yuan}块{jiao}毛"
    elif jiao and fen_digit:
        yield f"{word}块{j}毛{f}"  # 三块二毛五
        yield f"{yuan}块{jiao}毛{fen_digit}"
    elif fen_digit:
        yield f"{word}块零{f}"  # 一块零五
        yield f"{yuan}块零{fen_digit}分"


def mixed_forms(fen: int, rng: random.Random) -> Iterator[str]:
    """Arabic digits with Chinese units: 1千2, 2万3千, 1万零5百, 5万零1, 一万5000, 1万零500."""
    yuan, cents = divmod(fen, 100)
    if cents or yuan < 100:
        return
    reading = chinese(yuan)
    for form in dict.fromkeys(filter(None, [reading, abbreviated(reading)])):
        if "十" not in form:
            yield arabic_digits(form)
            yield arabic_digits(form) + rng.choice(["元", "块"])
    wan, rest = divmod(yuan, 10_000)
    if wan and rest:
        glue = "零" if rest < 1000 else ""
        yield f"{wan}万{glue}{rest}"
        yield f"{chinese(wan, liang=True)}万{glue}{rest}块"


def capital_forms(fen: int, rng: random.Random) -> Iterator[str]:
    """As on a cheque: 壹仟零伍拾元, 壹拾贰元叁角肆分, 壹佰元零伍分, 伍佰元整."""
    yuan, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    j, f = CAPITAL_DIGITS[jiao], CAPITAL_DIGITS[fen_digit]
    if yuan == 0:
        yield f"{j}角{f}分" if jiao and fen_digit else f"{j}角" if jiao else f"{f}分"
        return
    word = chinese(yuan, capital=True)
    if cents == 0:
        if len(word) > 1:
            yield word
        yield word + rng.choice(["元", "圆"])
        yield word + "元整"
    elif fen_digit == 0:
        yield f"{word}元{j}角"
    elif jiao == 0:
        yield f"{word}元零{f}分"
    else:
        yield f"{word}元{j}角{f}分"


def wan_forms(fen: int, rng: random.Random) -> Iterator[str]:
    """1.5万, 0.5万, 1.25万, 一点五万, 2.5千."""
    yuan, cents = divmod(fen, 100)
    if cents:
        return
    wan = fraction_of(Decimal(yuan) / 10_000)
    if wan is not None and yuan >= 1000 and yuan % 10_000:
        yield wan + "万"
        yield wan + rng.choice(["万元", "万块"])
        whole, _, decimals = wan.partition(".")
        yield chinese(int(whole)) + "点" + "".join(DIGITS[int(d)] for d in decimals) + "万"
    thousands = fraction_of(Decimal(yuan) / 1000)
    if thousands is not None and "." in thousands and 1000 <= yuan < 10_000:
        yield thousands + "千"


FAMILIES: dict[str, Callable[[int, random.Random], Iterator[str]]] = {
    "arabic": arabic_forms,
    "full_width": full_width_forms,
    "chinese": chinese_forms,
    "colloquial": colloquial_forms,
    "mixed": mixed_forms,
    "capitals": capital_forms,
    "wan": wan_forms,
}


class Rendering(NamedTuple):
    text: str  # as the customer types it
    normalized: str  # as the callers hand it to the parser
    fen: int


@cache
def renderings(family: str) -> tuple[Rendering, ...]:
    """Every amount as written in one family, deterministic for SEED."""
    rng = random.Random(f"{SEED}-{family}")
    texts = ((text, fen) for fen in amounts() for text in dict.fromkeys(FAMILIES[family](fen, rng)))
    return tuple(Rendering(text, normalize(text), fen) for text, fen in texts)


def in_a_sentence(rendering: str, rng: random.Random) -> str:
    return rng.choice(SENTENCES).format(rendering)


def misreading(text: str, normalized: str, fen: int, *, written_as: Rendering | None = None) -> str | None:
    """None when `text` (as typed, `normalized` as the callers do) reads exactly `fen`, else what went wrong.

    With `written_as`, the reading's span must also cover exactly that rendering.
    """
    reading = read_amount(normalized)
    expected = Decimal(fen) / 100
    if reading.kind != "exact" or reading.amount != expected or to_fen(reading.amount) != fen:
        return f"{text!r} should read {expected}, read {describe(reading)}"
    if written_as is not None and reading.span is not None:
        covered = normalized[reading.span[0] : reading.span[1]]
        if covered != written_as.normalized:
            return f"{text!r}: the span {reading.span} covers {covered!r}, not {written_as.text!r}"
    return None


def describe(reading: AmountReading) -> str:
    return f"{reading.kind} {reading.amount} amounts={[str(a) for a in reading.amounts]}"


def report(failures: list[str], checked: int) -> str:
    shown = "\n".join(failures[:FAILURES_SHOWN_MAX])
    return f"{len(failures)} of {checked} messages misread:\n{shown}"


# --- Tests ----------------------------------------------------------------------------------------


def test_the_sweep_covers_at_least_two_thousand_amounts_across_the_range() -> None:
    fens = amounts()
    drawn = fens[len(KNOWN_TRICKY_FEN) :]
    assert len(set(fens)) >= 2000
    assert min(fens) == 1
    assert AMOUNT_FEN_MAX in fens
    assert max(drawn) <= AMOUNT_FEN_MAX
    assert sum(1 for fen in fens if fen % 100) >= 500  # cents
    assert sum(1 for fen in fens if "0" in str(fen // 100).strip("0")) >= 300  # internal zeros


WRITER_CHECKS = sorted({fen // 100 for fen in KNOWN_TRICKY_FEN} | {7, 12, 15, 100, 1010, 10015, 30303})


@pytest.mark.parametrize("yuan", WRITER_CHECKS)
def test_the_standard_chinese_writer_agrees_with_cn2an(yuan: int) -> None:
    assert chinese(yuan) == cn2an.an2cn(yuan)
    assert chinese(yuan, capital=True) == cn2an.an2cn(yuan, "up")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_renders_amounts(family: str) -> None:
    assert len(renderings(family)) >= RENDERINGS_PER_FAMILY_MIN


@pytest.mark.parametrize("family", FAMILIES)
def test_every_rendered_amount_is_read_to_the_fen(family: str) -> None:
    checked = renderings(family)
    failures = [failure for r in checked if (failure := misreading(r.text, r.normalized, r.fen)) is not None]
    assert not failures, report(failures, len(checked))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_rendered_amount_inside_a_request_is_read_to_the_fen_and_located(family: str) -> None:
    rng = random.Random(f"{SEED}-{family}-sentences")
    checked = [(in_a_sentence(r.text, rng), r) for r in renderings(family)]
    failures = [
        failure
        for sentence, r in checked
        if (failure := misreading(sentence, normalize(sentence), r.fen, written_as=r)) is not None
    ]
    assert not failures, report(failures, len(checked))


# --- Messages that are not one exact amount --------------------------------------------------------


def round_amount(rng: random.Random) -> tuple[str, str]:
    """A round amount people say "about" of: (Chinese, Arabic), e.g. ("五百", "500")."""
    yuan = rng.randint(1, 9) * 10 ** rng.randint(1, 4)
    return chinese(yuan, liang=True), str(yuan)


def vague_messages(rng: random.Random) -> Iterator[str]:
    """Approximations, ranges and hedges, bare or inside a request: 两三百, 五百多, 大概两百, 500到600."""
    pairs = [(a, a + 1) for a in range(1, 9)] + [(3, 5)]
    for _ in range(300):
        cn, ar = round_amount(rng)
        number = rng.choice([cn, ar])
        a, b = rng.choice(pairs)
        low, high = sorted(rng.sample(range(1, 10), 2))
        unit = rng.choice(["十", "百", "千", "万"])
        first = "一" if a == 1 else "两" if a == 2 and unit != "十" else DIGITS[a]
        form = rng.choice(
            [
                f"{first}{DIGITS[b]}{unit}",  # 两三百, 七八千, 三五百
                f"{first}{DIGITS[b]}{unit}块",
                f"{number}多",
                f"{number}多块",
                f"{number}来块",
                f"{number}余元",
                f"{number}左右",
                f"{number}块左右",
                f"{number}元上下",
                f"{number}块不到",
                f"大概{number}",
                f"大约{number}块",
                f"差不多{number}元",
                f"约{number}元",
                f"几{unit}块",
                "十几块",
                "几十块",
                "上千",
                "上万块",
                "好几百",
                f"{low * 100}到{high * 100}块",
                f"{DIGITS[low]}百到{DIGITS[high]}百",
                f"{low * 100}-{high * 100}元",
                f"{low * 100}~{high * 100}",
            ]
        )
        yield in_a_sentence(form, rng) if rng.random() < 0.7 else form


def negative_messages(rng: random.Random) -> Iterator[tuple[str, Decimal]]:
    """(message, its negative amount): -5元, -¥5, ¥-5, －５元, 负五元, 负5块."""
    for fen in rng.sample(amounts(), 200):
        number = decimal_text(fen)
        yuan = fen // 100
        forms = [f"-{number}元", f"-¥{number}", f"¥-{number}", f"－{number.translate(FULL_WIDTH)}元"]
        if fen % 100 == 0:
            forms += [f"负{chinese(yuan, liang=True)}元", f"负{number}块"]
        form = rng.choice(forms)
        yield (in_a_sentence(form, rng) if rng.random() < 0.7 else form), -Decimal(fen) / 100


ZERO_FORMS = ["0元", "零块", "零元", "¥0", "0.00元", "0块钱", "〇元", "0", "０元", "￥０"]


def zero_messages() -> Iterator[str]:
    for form in ZERO_FORMS:
        yield form
        for template in SENTENCES:
            yield template.format(form)


def marked_rendering(fen: int, rng: random.Random) -> str:
    """One way of writing `fen` with its unit, so that neither of two amounts outranks the other."""
    forms = [f"{decimal_text(fen)}元", f"¥{decimal_text(fen, grouped=True)}"]
    forms += [text for text in chinese_forms(fen, rng) if text[-1] in "元块钱分毛角整"]
    forms += [text for text in colloquial_forms(fen, rng) if not text[-1].isdigit() and text[-1] not in DIGITS]
    return rng.choice(forms)


CORRECTIONS = [
    "先转{a}，不对转{b}吧",
    "转{a}，改成{b}",
    "{a}改为{b}",
    "转{a}，换成{b}吧",
    "不是{a}是{b}",
    "不是{a}，是{b}",
    "转{a}，我是说{b}",
    "转{a}，哦不，{b}",
    "转{a}，应该是{b}",
    "给李四转{a}，说错了，{b}",
]
SEVERAL = ["转{a}还是{b}", "{a}或者{b}", "先转{a}再转{b}", "给李四转{a}和{b}", "转{a}，不是{b}"]
SAME_TWICE = ["{a}，就{a}", "转{a}，对，就是{a}", "给李四转{a}，确认{a}"]


def two_amount_messages(rng: random.Random) -> Iterator[tuple[str, str, int, int]]:
    """(message, expected kind, first fen, second fen)."""
    for _ in range(400):
        a, b = rng.sample(amounts(), 2)
        ra, rb = marked_rendering(a, rng), marked_rendering(b, rng)
        pick = rng.random()
        if pick < 0.45:
            yield rng.choice(CORRECTIONS).format(a=ra, b=rb), "exact", a, b
        elif pick < 0.85:
            yield rng.choice(SEVERAL).format(a=ra, b=rb), "several", a, b
        else:
            yield rng.choice(SAME_TWICE).format(a=ra), "exact", a, a


def test_vague_amounts_are_never_guessed() -> None:
    messages = list(vague_messages(random.Random(f"{SEED}-vague")))
    failures = [f"{m!r} read {describe(r)}" for m in messages if (r := read_amount(normalize(m))).kind != "vague"]
    assert not failures, report(failures, len(messages))


def test_negative_amounts_are_read_as_negative() -> None:
    messages = list(negative_messages(random.Random(f"{SEED}-negative")))
    failures = [
        f"{m!r} read {describe(r)}"
        for m, value in messages
        if (r := read_amount(normalize(m))).kind != "negative" or r.amounts != (value,) or r.amount is not None
    ]
    assert not failures, report(failures, len(messages))


def test_zero_amounts_are_read_as_zero() -> None:
    messages = list(zero_messages())
    failures = [f"{m!r} read {describe(r)}" for m in messages if (r := read_amount(normalize(m))).kind != "zero"]
    assert not failures, report(failures, len(messages))


def test_two_amounts_are_a_correction_a_repetition_or_several() -> None:
    messages = list(two_amount_messages(random.Random(f"{SEED}-two")))
    failures = []
    for message, kind, first, second in messages:
        reading = read_amount(normalize(message))
        expected_amounts = tuple(dict.fromkeys([Decimal(first) / 100, Decimal(second) / 100]))
        expected_amount = Decimal(second) / 100 if kind == "exact" else None
        if (reading.kind, reading.amount, reading.amounts) != (kind, expected_amount, expected_amounts):
            failures.append(f"{message!r} should be {kind} {expected_amount}, read {describe(reading)}")
    assert not failures, report(failures, len(messages))
