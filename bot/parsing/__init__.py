"""Amounts and time periods in a customer's message, for the wallet's transfer and query flows.

`parse_amount("给张三转五百块")` → `Decimal("500.00")`; `parse_period("上个月", now)` → a `Period`
covering last month in Asia/Shanghai. Both expect text already passed through
`bot.textnorm.normalize` and answer None when the message holds no (or no unambiguous) value.
`read_amount` says why: an `AmountReading` of kind "exact", "none", "vague" (两三百), "several"
(200 or 300?), "negative" or "zero", with every amount found and where the chosen one is written.

Errors (raised only for misuse, never for a customer's text):

    ValueError
    ├── AmountError > {FractionalFen, AmountNotFinite}     to_fen
    └── PeriodError > {NaiveDatetime, EmptyPeriod}         parse_period, Period
"""

from bot.parsing.amounts import (
    AmountError,
    AmountKind,
    AmountNotFinite,
    AmountReading,
    FractionalFen,
    format_yuan,
    parse_amount,
    read_amount,
    to_fen,
)
from bot.parsing.periods import (
    SHANGHAI,
    EmptyPeriod,
    NaiveDatetime,
    Period,
    PeriodError,
    parse_period,
)

__all__ = [
    "SHANGHAI",
    "AmountError",
    "AmountKind",
    "AmountNotFinite",
    "AmountReading",
    "EmptyPeriod",
    "FractionalFen",
    "NaiveDatetime",
    "Period",
    "PeriodError",
    "format_yuan",
    "parse_amount",
    "parse_period",
    "read_amount",
    "to_fen",
]
