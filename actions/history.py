"""History: a period (or the last 30 days), money in or out, a kind of spending, the latest one."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer_of, entity_value, latest_text, reader, refuse_anonymous
from bot import cues, phrases
from bot.parsing import Period, format_yuan, parse_period
from bot.wallet import list_transactions

SHANGHAI = ZoneInfo("Asia/Shanghai")
HISTORY_DEFAULT_DAYS = 30
# What a customer calls a kind of spending → the word the ledger's memos use for it.
CATEGORIES = {
    "外卖": "外卖", "点餐": "外卖", "美团": "外卖", "超市": "超市", "买菜": "超市", "购物": "超市",
    "电费": "电费", "话费": "话费", "手机费": "话费", "打车": "打车", "滴滴": "打车", "车费": "打车",
}  # fmt: skip
PERIOD_JOINERS = re.compile("和|跟|与|、|还有|以及|对比|比")


class ActionCheckTransactions(Action):
    """History: a period (or the last 30 days), money in or out, a kind of spending, the latest one."""

    def name(self) -> str:
        return "action_check_transactions"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        if customer_id is None:
            return refuse_anonymous(dispatcher)
        if tracker.get_slot("draft_id") and cues.match("drops_it", latest_text(tracker)):
            from actions.transfer import ActionCancel  # transfer imports this module

            return ActionCancel().run(dispatcher, tracker, domain)  # "哦那已经转过了，不用了"
        if requests_a_transfer(tracker, customer_id):
            from actions.transfer import ActionTransfer

            return ActionTransfer().run(dispatcher, tracker, domain)  # "壹拾贰，转给我妈" read as history
        now = datetime.now(SHANGHAI)
        text = latest_text(tracker)
        periods = periods_named(text, now)
        if not periods:
            period = parse_period(entity_value(tracker, "time_period") or "", now)
            periods = [period] if period else [None]
        direction = "in" if cues.match("incoming_money", text) else None
        keyword = next((memo for word, memo in CATEGORIES.items() if word in text), None)
        after_history = tracker.get_slot("last_topic") == "history"
        if after_history and cues.match("previous_one", text) and not any(p is not None and not p.latest_only for p in periods):
            dispatcher.utter_message(text=self._previous_one(customer_id, now, direction, keyword))  # "那前一笔呢"
            return [SlotSet("last_topic", "history")]
        replies = [self._one_period(customer_id, period, now, direction, keyword) for period in periods]
        dispatcher.utter_message(text="\n\n".join(replies))
        return [SlotSet("last_topic", "history")]

    @staticmethod
    def _previous_one(customer_id: str, now: datetime, direction: str | None, keyword: str | None) -> str:
        """The transaction before the latest one (of that kind), in the default window."""
        start, end = now - timedelta(days=HISTORY_DEFAULT_DAYS), now + timedelta(seconds=1)
        view = list_transactions(reader(), customer_id, start, end, limit=2, direction=direction, memo_keyword=keyword)
        if len(view.items) < 2:
            label = phrases.say("history_default_period", days=HISTORY_DEFAULT_DAYS)
            return phrases.say("no_previous_transaction", period=label + (keyword or ""))
        return phrases.say("previous_transaction", line=transaction_line(view.items[1], direction))

    @staticmethod
    def _one_period(customer_id: str, period: Period | None, now: datetime, direction: str | None, keyword: str | None) -> str:
        if period is None:
            start, end = now - timedelta(days=HISTORY_DEFAULT_DAYS), now + timedelta(seconds=1)
            label, latest_only = phrases.say("history_default_period", days=HISTORY_DEFAULT_DAYS), False
        else:
            start, end, label, latest_only = period.start, period.end, period.label, period.latest_only
        view = list_transactions(
            reader(), customer_id, start, end, limit=1 if latest_only else 5, direction=direction, memo_keyword=keyword
        )
        what = label + (keyword or "") + (phrases.say("history_incoming") if direction == "in" else "")
        if not view.items:
            if direction == "in":
                return phrases.say("no_transactions_incoming", period=label)
            return phrases.say("no_transactions", period=label + (keyword or ""))
        lines = [transaction_line(item, direction) for item in view.items]
        if latest_only:
            return phrases.say("latest_transaction", line=lines[0])
        return phrases.say(
            "transactions_summary",
            period=what,
            count=view.count,
            spent=format_yuan(view.total_out_fen),
            received=format_yuan(view.total_in_fen),
            lines="\n".join(lines),
        )


def transaction_line(item, direction: str | None) -> str:
    return phrases.say(
        "transaction_line",
        when=item.at.astimezone(SHANGHAI).strftime("%m-%d %H:%M"),
        what=" ".join(part for part in (item.counterparty, item.memo) if part) if direction == "in" else item.memo or item.counterparty,
        amount=("+" if item.amount_fen > 0 else "-") + format_yuan(abs(item.amount_fen)),
    )


def periods_named(text: str, now: datetime) -> list[Period]:
    """Every distinct period a message names: "上个月和这个月分别花了多少" → two months."""
    found: list[Period] = []
    for part in PERIOD_JOINERS.split(text):
        period = parse_period(part, now)
        if period is not None and all((p.start, p.end) != (period.start, period.end) for p in found):
            found.append(period)
    if len(found) <= 1:
        whole = parse_period(text, now)
        return [whole] if whole else found
    return found


def requests_a_transfer(tracker: Tracker, customer_id: str) -> bool:
    """A message the model read as history, or as a question about transferring, that is about sending
    money ("壹拾贰，转给我妈", "804.69，转给我妈", or a correction beside a summary), with no word of a
    record and nothing about a transfer already made (no question either: "转给我妈500要多久到？")."""
    from actions.transfer import transfer_news  # transfer imports this module

    if asks_history(tracker) or cues.match("transfer_already_made", latest_text(tracker)):
        return False
    return transfer_news(tracker, customer_id, may_start=True)


def asks_history(tracker: Tracker) -> bool:
    """A message the model put elsewhere that is a history question: "最近一笔", "张三有没有转钱给我",
    or a kind of spending right after a history answer ("外卖呢")."""
    text = latest_text(tracker)
    if cues.match("history_question", text) or cues.match("incoming_money", text):
        return True
    after_history = tracker.get_slot("last_topic") == "history"
    return after_history and (any(word in text for word in CATEGORIES) or cues.match("previous_one", text))
