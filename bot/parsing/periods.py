"""Time periods in a customer's message: "上个月" → Period(2026-10-01, 2026-11-01, "2026年10月").

Every period is a run of whole days in Asia/Shanghai, `end` exclusive. Calendar words mean the
whole calendar unit (本月 is the 1st to the 1st of next month); look-backs (最近7天, 近三个月) end
with today; a month or date without a year (三月份, 10月1日) is the most recent one not in the
future, and a period that has not begun yet (明天, 下个月, 本周五 on a Wednesday) is None.
"最近一笔" asks for the latest transaction only: `latest_only=True`, within the other period
the message names, or within the last `LATEST_WINDOW_DAYS` days.

Errors: `PeriodError > {NaiveDatetime, EmptyPeriod}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import cn2an

SHANGHAI = ZoneInfo("Asia/Shanghai")
LATEST_WINDOW_DAYS = 90
LOOKBACK_DAYS_MAX = 5 * 366
YEAR_MIN = 1900
YEAR_MAX = 2199
TEXT_CHARS_MAX = 2000


class PeriodError(ValueError):
    """A period cannot be built from these values."""


class NaiveDatetime(PeriodError):
    def __init__(self, value: datetime) -> None:
        super().__init__(f"{value.isoformat()} has no time zone")
        self.value = value


class EmptyPeriod(PeriodError):
    def __init__(self, start: datetime, end: datetime) -> None:
        super().__init__(f"period start {start.isoformat()} is not before end {end.isoformat()}")
        self.start = start
        self.end = end


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    label: str  # Chinese, for replies: "2026年10月", "昨天", "最近7天"
    latest_only: bool = False

    def __post_init__(self) -> None:
        for value in (self.start, self.end):
            if value.tzinfo is None:
                raise NaiveDatetime(value)
        if not self.start < self.end:
            raise EmptyPeriod(self.start, self.end)


@dataclass(frozen=True)
class _Days:
    first: date
    end: date  # exclusive
    label: str


class _Latest:
    """The message asks for the latest transaction: 最近一笔, 刚才那笔."""


class _Future:
    """The message speaks of a time still to come: 明天, 下个月. Nothing to look up there."""


_LATEST = _Latest()
_FUTURE = _Future()
_Found = _Days | _Latest | _Future | None


def parse_period(text: str, now: datetime) -> Period | None:
    """The one period `text` (already `textnorm.normalize`d) speaks of, as seen at `now`."""
    if now.tzinfo is None:
        raise NaiveDatetime(now)
    if not text or len(text) > TEXT_CHARS_MAX:
        return None
    today = now.astimezone(SHANGHAI).date()
    found = _readings(text, today)
    windows = {f for f in found if isinstance(f, _Days)}
    latest_only = _LATEST in found
    if _FUTURE in found or len(windows) > 1:
        return None  # 昨天和上周: two periods; 下个月: nothing to look up yet
    if windows:
        (days,) = windows
    elif latest_only:
        tomorrow = today + timedelta(days=1)
        days = _Days(tomorrow - timedelta(days=LATEST_WINDOW_DAYS), tomorrow, "最近一笔")
    else:
        return None
    return Period(_midnight(days.first), _midnight(days.end), days.label, latest_only)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


# --- numbers ---------------------------------------------------------------------------------

_N = r"(?:[0-9]{1,4}|[零〇一二两三四五六七八九十]{1,5})"
_NOT_AFTER_NUMBER = r"(?<![0-9零〇一二两三四五六七八九十])"
_YEAR = r"(?:(?P<year>[0-9]{4}|[零〇一二三四五六七八九]{4})年|(?P<relative_year>今年|去年|前年))"
_RELATIVE_YEARS = {"今年": 0, "去年": 1, "前年": 2}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_WEEKDAY_NAMES = "一二三四五六日"
_WD = r"(?P<weekday>[一二三四五六日天1-7])(?![共起下直定些点次笔样般])"


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    try:
        value = cn2an.cn2an(token, "normal")
    except ValueError:
        return None
    return value if isinstance(value, int) else None


def _weekday(token: str) -> int:
    return int(token) - 1 if token.isdigit() else _WEEKDAYS[token]


# --- calendar arithmetic ---------------------------------------------------------------------


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _add_months(day: date, months: int) -> date:
    first = _month_start(day.year, day.month + months)
    following = _month_start(first.year, first.month + 1)
    return first.replace(day=min(day.day, (following - first).days))


def _whole_month(year: int, month: int) -> _Days:
    first = _month_start(year, month)
    return _Days(first, _month_start(year, month + 1), f"{first.year}年{first.month}月")


def _one_day(day: date, label: str | None = None) -> _Days:
    return _Days(day, day + timedelta(days=1), label or f"{day.year}年{day.month}月{day.day}日")


def _year_of(m: re.Match[str], today: date) -> int | None:
    """The year the match names (maybe out of range: 0000年), or None when it names none."""
    if m["year"]:
        return _number(m["year"]) or 0
    if m["relative_year"]:
        return today.year - _RELATIVE_YEARS[m["relative_year"]]
    return None


# --- readings: one function per kind of expression ------------------------------------------


def _read_date(m: re.Match[str], today: date) -> _Found:
    month, day = _number(m["month"]), _number(m["day"])
    if month is None or day is None or not (1 <= month <= 12):
        return None
    year = _year_of(m, today)
    if year is None:
        year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
    if not YEAR_MIN <= year <= YEAR_MAX:
        return None
    try:
        return _one_day(date(year, month, day))
    except ValueError:
        return None  # 2月30日


def _read_month(m: re.Match[str], today: date) -> _Found:
    month = _number(m["month"])
    if month is None or not (1 <= month <= 12):
        return None
    year = _year_of(m, today)
    if year is None:
        year = today.year if month <= today.month else today.year - 1
    if not YEAR_MIN <= year <= YEAR_MAX:
        return None
    return _whole_month(year, month)


def _read_year(m: re.Match[str], today: date) -> _Found:
    year = _year_of(m, today)
    if year is None or not YEAR_MIN <= year <= YEAR_MAX:
        return None
    return _Days(date(year, 1, 1), date(year + 1, 1, 1), f"{year}年")


_RELATIVE_MONTHS = {"上上个月": 2, "上上月": 2, "上个月": 1, "上月": 1, "本月": 0, "这个月": 0, "这月": 0, "当月": 0}


def _read_relative_month(m: re.Match[str], today: date) -> _Found:
    first = _add_months(today.replace(day=1), -_RELATIVE_MONTHS[m["month_word"]])
    if m["day"] is None:
        return _whole_month(first.year, first.month)
    day = _number(m["day"])
    try:
        return _one_day(first.replace(day=day or 0))
    except ValueError:
        return None


def _read_day_of_month(m: re.Match[str], today: date) -> _Found:
    """15号: the most recent 15th that is not in the future."""
    day = _number(m["day"])
    if day is None or not (1 <= day <= 31):
        return None
    first = today.replace(day=1)
    for back in range(12):
        month = _add_months(first, -back)
        try:
            candidate = month.replace(day=day)
        except ValueError:
            continue
        if candidate <= today:
            return _one_day(candidate)
    return None


_RELATIVE_DAYS = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "大前天": 3}
_RELATIVE_DAY_LABELS = {"今日": "今天", "昨日": "昨天"}


def _read_relative_day(m: re.Match[str], today: date) -> _Found:
    word = m["day_word"]
    day = today - timedelta(days=_RELATIVE_DAYS[word])
    return _one_day(day, _RELATIVE_DAY_LABELS.get(word, word))


_RELATIVE_WEEKS = {"上上": 2, "上": 1, "本": 0, "这": 0}
_RELATIVE_WEEK_LABELS = {2: "上上周", 1: "上周", 0: "本周"}


def _read_week(m: re.Match[str], today: date) -> _Found:
    weeks_back = _RELATIVE_WEEKS[m["week_word"]]
    monday = today - timedelta(days=today.weekday() + 7 * weeks_back)
    label = _RELATIVE_WEEK_LABELS[weeks_back]
    if m["weekend"]:
        saturday = monday + timedelta(days=5)
        return _Days(saturday, saturday + timedelta(days=2), f"{label}末")
    if m["weekday"]:
        weekday = _weekday(m["weekday"])
        return _one_day(monday + timedelta(days=weekday), f"{label}{_WEEKDAY_NAMES[weekday]}")
    return _Days(monday, monday + timedelta(days=7), label)


def _read_bare_weekday(m: re.Match[str], today: date) -> _Found:
    """周五: the most recent Friday, today included."""
    weekday = _weekday(m["weekday"])
    day = today - timedelta(days=(today.weekday() - weekday) % 7)
    return _one_day(day, f"周{_WEEKDAY_NAMES[weekday]}")


_LOOKBACK_UNITS_DAYS = {"天": 1, "日": 1, "周": 7, "星期": 7, "礼拜": 7}


def _read_lookback(m: re.Match[str], today: date) -> _Found:
    unit, count = m["unit"], m["count"]
    end = today + timedelta(days=1)
    if count == "半":
        if unit == "年":
            count, unit = "6", "月"
        elif unit == "月":
            count, unit = "15", "天"
        else:
            return None
    n = _number(count)
    if n is None or n < 1:
        return None
    if unit in ("月", "年"):
        months = n * 12 if unit == "年" else n
        if months * 28 > LOOKBACK_DAYS_MAX:
            return None  # too long even in February, and keeps _add_months within the calendar
        first = _add_months(today, -months) + timedelta(days=1)
        label = f"最近{n}年" if unit == "年" else f"最近{n}个月"
    else:
        days = n * _LOOKBACK_UNITS_DAYS[unit]
        if days > LOOKBACK_DAYS_MAX:
            return None
        first, label = end - timedelta(days=days), f"最近{days}天"
    if (end - first).days > LOOKBACK_DAYS_MAX:
        return None
    return _Days(first, end, label)


def _read_latest(m: re.Match[str], today: date) -> _Found:
    return _LATEST


def _read_future(m: re.Match[str], today: date) -> _Found:
    return _FUTURE


_SPAN = rf"(?P<count>{_N}|半)个?(?P<unit>天|日|周|星期|礼拜|月|年)"
_WITHIN = "(?:内|之内|以内|以来)"
_Reading = Callable[[re.Match[str], date], _Found]

# Order breaks ties between matches that start at the same place and are as long.
_EXPRESSIONS: list[tuple[re.Pattern[str], _Reading]] = [
    (re.compile(r"明天|明日|大?后天|明年|后年|下下?个?(?:周|星期|礼拜|月)"), _read_future),
    (re.compile(r"(?:最近|最后|最新|上)的?一笔|刚(?:才|刚)的?那?一?笔"), _read_latest),
    (re.compile(rf"{_NOT_AFTER_NUMBER}{_YEAR}?(?P<month>{_N})月(?P<day>{_N})[日号]"), _read_date),
    (re.compile(rf"{_NOT_AFTER_NUMBER}{_YEAR}?(?P<month>{_N})月份?"), _read_month),
    (re.compile(rf"{_NOT_AFTER_NUMBER}{_YEAR}(?![0-9])"), _read_year),
    (
        re.compile(rf"(?P<month_word>上上个?月|上个?月|本月|这个?月|当月)(?:(?P<day>{_N})[日号])?"),
        _read_relative_month,
    ),
    (
        re.compile(rf"{_NOT_AFTER_NUMBER}(?<!月)(?P<day>{_N})[日号](?![线楼窗机店门床房位柜台])"),
        _read_day_of_month,
    ),
    (re.compile(r"(?P<day_word>大前天|前天|昨天|昨日|今天|今日)"), _read_relative_day),
    (re.compile(rf"(?P<week_word>上上|上|本|这)个?(?:周|星期|礼拜)(?:{_WD}|(?P<weekend>末))?"), _read_week),
    (re.compile(rf"(?<![0-9一二两三四五六七八九十几个上下本这])(?:周|星期|礼拜){_WD}"), _read_bare_weekday),
    (re.compile(rf"(?:最近|近|过去)的?{_SPAN}{_WITHIN}?"), _read_lookback),
    (re.compile(rf"{_NOT_AFTER_NUMBER}{_SPAN}{_WITHIN}"), _read_lookback),  # 7天内
]


def _readings(text: str, today: date) -> list[_Found]:
    """What each expression in `text` means today; a window that starts after today is future."""
    found: list[_Found] = []
    for m, reading in _expressions(text):
        meaning = reading(m, today)
        if isinstance(meaning, _Days) and meaning.first > today:
            meaning = _FUTURE  # 本周五 said on a Wednesday, 2030年
        found.append(meaning)
    return found


def _expressions(text: str) -> list[tuple[re.Match[str], _Reading]]:
    """Every period expression in `text`, leftmost-longest first, none overlapping another."""
    matches = [
        (m, reading, order)
        for order, (pattern, reading) in enumerate(_EXPRESSIONS)
        for m in pattern.finditer(text)
    ]
    matches.sort(key=lambda item: (item[0].start(), -(item[0].end() - item[0].start()), item[2]))
    chosen: list[tuple[re.Match[str], _Reading]] = []
    taken_until = 0
    for m, reading, _ in matches:
        if m.start() >= taken_until:
            chosen.append((m, reading))
            taken_until = m.end()
    return chosen
