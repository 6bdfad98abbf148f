import re
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.parsing import SHANGHAI, EmptyPeriod, NaiveDatetime, Period, parse_period
from bot.textnorm import normalize

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=SHANGHAI)  # a Wednesday
NEW_YEAR = datetime(2027, 1, 6, 9, 30, tzinfo=SHANGHAI)  # a Wednesday in January


def _days(period: Period | None) -> tuple[date, date, str] | None:
    if period is None:
        return None
    return period.start.date(), period.end.date(), period.label


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


# (text, first day, day after the last, label)
PERIODS = [
    # days
    ("今天", d(11, 25), d(11, 26), "今天"),
    ("今日", d(11, 25), d(11, 26), "今天"),
    ("昨天", d(11, 24), d(11, 25), "昨天"),
    ("前天", d(11, 23), d(11, 24), "前天"),
    ("大前天", d(11, 22), d(11, 23), "大前天"),
    ("10月1日", d(10, 1), d(10, 2), "2026年10月1日"),
    ("10月1号", d(10, 1), d(10, 2), "2026年10月1日"),
    ("十月一号", d(10, 1), d(10, 2), "2026年10月1日"),
    ("12月31日", d(12, 31, 2025), d(1, 1), "2025年12月31日"),
    ("2025年3月5日", d(3, 5, 2025), d(3, 6, 2025), "2025年3月5日"),
    ("去年3月5号", d(3, 5, 2025), d(3, 6, 2025), "2025年3月5日"),
    ("15号", d(11, 15), d(11, 16), "2026年11月15日"),
    ("31号", d(10, 31), d(11, 1), "2026年10月31日"),
    ("上个月3号", d(10, 3), d(10, 4), "2026年10月3日"),
    ("这个月15号", d(11, 15), d(11, 16), "2026年11月15日"),
    # weeks (Monday to Monday)
    ("本周", d(11, 23), d(11, 30), "本周"),
    ("这周", d(11, 23), d(11, 30), "本周"),
    ("这个星期", d(11, 23), d(11, 30), "本周"),
    ("这礼拜", d(11, 23), d(11, 30), "本周"),
    ("上周", d(11, 16), d(11, 23), "上周"),
    ("上个星期", d(11, 16), d(11, 23), "上周"),
    ("上礼拜", d(11, 16), d(11, 23), "上周"),
    ("上上周", d(11, 9), d(11, 16), "上上周"),
    ("上周五", d(11, 20), d(11, 21), "上周五"),
    ("上星期天", d(11, 22), d(11, 23), "上周日"),
    ("上周末", d(11, 21), d(11, 23), "上周末"),
    ("本周一", d(11, 23), d(11, 24), "本周一"),
    ("周五", d(11, 20), d(11, 21), "周五"),
    ("星期三", d(11, 25), d(11, 26), "周三"),
    ("这周一共转了多少", d(11, 23), d(11, 30), "本周"),
    # months
    ("本月", d(11, 1), d(12, 1), "2026年11月"),
    ("这个月", d(11, 1), d(12, 1), "2026年11月"),
    ("上个月", d(10, 1), d(11, 1), "2026年10月"),
    ("上月", d(10, 1), d(11, 1), "2026年10月"),
    ("上上个月", d(9, 1), d(10, 1), "2026年9月"),
    ("三月份", d(3, 1), d(4, 1), "2026年3月"),
    ("3月", d(3, 1), d(4, 1), "2026年3月"),
    ("三月", d(3, 1), d(4, 1), "2026年3月"),
    ("11月", d(11, 1), d(12, 1), "2026年11月"),
    ("十二月", d(12, 1, 2025), d(1, 1), "2025年12月"),
    ("2026年3月", d(3, 1), d(4, 1), "2026年3月"),
    ("二〇二五年十月", d(10, 1, 2025), d(11, 1, 2025), "2025年10月"),
    ("去年3月", d(3, 1, 2025), d(4, 1, 2025), "2025年3月"),
    # years
    ("今年", d(1, 1), d(1, 1, 2027), "2026年"),
    ("去年", d(1, 1, 2025), d(1, 1), "2025年"),
    ("前年", d(1, 1, 2024), d(1, 1, 2025), "2024年"),
    ("2025年", d(1, 1, 2025), d(1, 1), "2025年"),
    # look-backs, ending with today
    ("最近7天", d(11, 19), d(11, 26), "最近7天"),
    ("近七天", d(11, 19), d(11, 26), "最近7天"),
    ("7天内", d(11, 19), d(11, 26), "最近7天"),
    ("过去一周", d(11, 19), d(11, 26), "最近7天"),
    ("最近一周", d(11, 19), d(11, 26), "最近7天"),
    ("最近两周", d(11, 12), d(11, 26), "最近14天"),
    ("最近30天", d(10, 27), d(11, 26), "最近30天"),
    ("近一个月", d(10, 26), d(11, 26), "最近1个月"),
    ("最近三个月", d(8, 26), d(11, 26), "最近3个月"),
    ("最近半年", d(5, 26), d(11, 26), "最近6个月"),
    ("最近一年", d(11, 26, 2025), d(11, 26), "最近1年"),
    # in a sentence
    ("我上个月转了多少钱", d(10, 1), d(11, 1), "2026年10月"),
    ("帮我查下最近7天的交易", d(11, 19), d(11, 26), "最近7天"),
    ("三月份给张三转的500", d(3, 1), d(4, 1), "2026年3月"),
    ("上個月", d(10, 1), d(11, 1), "2026年10月"),
    ("最近７天", d(11, 19), d(11, 26), "最近7天"),
]


@pytest.mark.parametrize(("text", "first", "end", "label"), PERIODS, ids=[p[0] for p in PERIODS])
def test_a_period_expression_becomes_whole_days_in_shanghai(text: str, first: date, end: date, label: str) -> None:
    period = parse_period(normalize(text), NOW)
    assert _days(period) == (first, end, label)
    assert period is not None and not period.latest_only
    assert period.start.tzinfo is SHANGHAI and period.start.time() == period.end.time() == datetime.min.time()


LATEST = ["最近一笔", "最后一笔", "最新一笔", "刚才那笔", "刚刚那笔", "上一笔", "最近的一笔", "刚才那笔转账成功了吗"]


@pytest.mark.parametrize("text", LATEST)
def test_asking_for_the_latest_transaction_looks_back_90_days(text: str) -> None:
    period = parse_period(normalize(text), NOW)
    assert period is not None and period.latest_only
    assert _days(period) == (d(8, 28), d(11, 26), "最近一笔")
    assert (period.end - period.start).days == 90


@pytest.mark.parametrize(
    ("text", "first", "end", "label"),
    [
        ("上个月最后一笔", d(10, 1), d(11, 1), "2026年10月"),
        ("昨天最后一笔", d(11, 24), d(11, 25), "昨天"),
    ],
)
def test_the_latest_transaction_of_a_named_period_searches_only_that_period(
    text: str, first: date, end: date, label: str
) -> None:
    period = parse_period(text, NOW)
    assert period is not None and period.latest_only
    assert _days(period) == (first, end, label)


NO_PERIOD = [
    "",
    "你好",
    "转500给李四",
    "最近",
    "最近几天",
    "三个月",
    # the future
    "明天",
    "后天",
    "下周",
    "下周五",
    "下个月",
    "明年3月",
    "本周五",
    "这周末",
    "本月28号",
    "2027年",
    "2030年3月",
    # nonsense or out of range
    "13月",
    "2月30日",
    "32号",
    "最近0天",
    "最近10000天",
    # two different periods
    "昨天和今天",
    "10月1日到10月5日",
    "1号线",
]


@pytest.mark.parametrize("text", NO_PERIOD)
def test_a_message_without_one_past_period_gives_none(text: str) -> None:
    assert parse_period(normalize(text), NOW) is None


@pytest.mark.parametrize(
    ("text", "first", "end", "label"),
    [
        ("上个月", d(12, 1), d(1, 1, 2027), "2026年12月"),
        ("上月", d(12, 1), d(1, 1, 2027), "2026年12月"),
        ("12月", d(12, 1), d(1, 1, 2027), "2026年12月"),
        ("一月", d(1, 1, 2027), d(2, 1, 2027), "2027年1月"),
        ("上周", d(12, 28), d(1, 4, 2027), "上周"),
        ("去年", d(1, 1), d(1, 1, 2027), "2026年"),
        ("最近7天", d(12, 31), d(1, 7, 2027), "最近7天"),
        ("最近三个月", d(10, 7), d(1, 7, 2027), "最近3个月"),
        ("12月31日", d(12, 31), d(1, 1, 2027), "2026年12月31日"),
        ("20号", d(12, 20), d(12, 21), "2026年12月20日"),
    ],
)
def test_around_new_year_last_month_is_december_of_last_year(text: str, first: date, end: date, label: str) -> None:
    assert _days(parse_period(text, NEW_YEAR)) == (first, end, label)


def test_now_in_another_time_zone_is_seen_from_shanghai() -> None:
    utc_evening = datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc)  # 01:00 on the 26th in Shanghai
    assert _days(parse_period("今天", utc_evening)) == (d(11, 26), d(11, 27), "今天")


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(NaiveDatetime):
        parse_period("今天", datetime(2026, 11, 25, 15, 0))


def test_a_period_must_start_before_it_ends() -> None:
    with pytest.raises(EmptyPeriod):
        Period(NOW, NOW, "空")


def test_a_period_refuses_naive_bounds() -> None:
    with pytest.raises(NaiveDatetime):
        Period(datetime(2026, 11, 25), datetime(2026, 11, 26), "今天")


nows = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(SHANGHAI))
ALL_TEXTS = [p[0] for p in PERIODS] + LATEST + NO_PERIOD


@given(now=nows, text=st.sampled_from(ALL_TEXTS))
def test_every_period_starts_before_it_ends_on_whole_days(now: datetime, text: str) -> None:
    period = parse_period(normalize(text), now)
    if period is not None:
        assert period.start < period.end
        assert period.start.time() == period.end.time() == datetime.min.time()
        assert (period.end - period.start) >= timedelta(days=1)


WRITTEN_YEAR = re.compile("[0-9〇零一二三四五六七八九]{4}年")
WITHOUT_A_YEAR = [t for t in ALL_TEXTS if not WRITTEN_YEAR.search(normalize(t))]


@given(now=nows, text=st.sampled_from(WITHOUT_A_YEAR))
def test_a_period_without_a_written_year_never_starts_in_the_future(now: datetime, text: str) -> None:
    period = parse_period(normalize(text), now)
    if period is not None:
        assert period.start <= now


@given(now=nows, month=st.integers(min_value=1, max_value=12))
def test_a_month_without_a_year_is_the_latest_one_not_in_the_future(now: datetime, month: int) -> None:
    period = parse_period(f"{month}月", now)
    assert period is not None
    assert period.start.day == 1 and period.start.month == month
    assert period.start <= now
    assert period.start > now - timedelta(days=366)


period_text = st.text(alphabet="今昨前后明天日月年号周星期礼拜上下本这个近最过去内的一二两三十〇0123456789半末笔刚才那", max_size=12)


@given(now=nows, text=period_text)
def test_no_message_makes_parse_period_raise(now: datetime, text: str) -> None:
    period = parse_period(text, now)
    assert period is None or period.start < period.end
