"""Account actions: balance, history, cancelling, locked wallets and fraud reports.

Each action learns the customer only from the gateway-signed identity in the message metadata, and
calls one `bot.wallet` service. Wallet errors become Chinese through `bot.wallet.messages.describe`.
The transfer conversation itself is `actions.transfer`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer_of, entity_value, latest_text, reader, refuse_anonymous, uow
from actions.transfer import open_draft, reset_events
from bot import cues, phrases
from bot.knowledge import get_knowledge_base
from bot.parsing import Period, format_yuan, parse_period
from bot.wallet import WalletError, cancel_draft, freeze_wallet, get_balance, list_transactions

SHANGHAI = ZoneInfo("Asia/Shanghai")
HISTORY_DEFAULT_DAYS = 30
# What a customer calls a kind of spending → the word the ledger's memos use for it.
CATEGORIES = {
    "外卖": "外卖", "点餐": "外卖", "美团": "外卖", "超市": "超市", "买菜": "超市", "购物": "超市",
    "电费": "电费", "话费": "话费", "手机费": "话费", "打车": "打车", "滴滴": "打车", "车费": "打车",
}  # fmt: skip
PERIOD_JOINERS = re.compile("和|跟|与|、|还有|以及|对比|比")


class ActionCheckBalance(Action):
    def name(self) -> str:
        return "action_check_balance"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        if customer_id is None:
            return refuse_anonymous(dispatcher)
        view = get_balance(reader(), customer_id)
        text = phrases.say("balance", wallet=view.wallet_no_masked, balance=format_yuan(view.balance_fen))
        if view.status != "active":
            text += phrases.say(f"wallet_status_{view.status}", until=_local(view.locked_until))
        dispatcher.utter_message(text=text)
        return []


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(SHANGHAI).strftime("%m月%d日 %H:%M")


class ActionCheckTransactions(Action):
    """History: a period (or the last 30 days), money in or out, a kind of spending, the latest one."""

    def name(self) -> str:
        return "action_check_transactions"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        if customer_id is None:
            return refuse_anonymous(dispatcher)
        now = datetime.now(SHANGHAI)
        text = latest_text(tracker)
        periods = periods_named(text, now)
        if not periods:
            period = parse_period(entity_value(tracker, "time_period") or "", now)
            periods = [period] if period else [None]
        direction = "in" if cues.match("incoming_money", text) else None
        keyword = next((memo for word, memo in CATEGORIES.items() if word in text), None)
        replies = [self._one_period(customer_id, period, now, direction, keyword) for period in periods]
        dispatcher.utter_message(text="\n\n".join(replies))
        return []

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
        lines = [
            phrases.say(
                "transaction_line",
                when=item.at.astimezone(SHANGHAI).strftime("%m-%d %H:%M"),
                what=" ".join(part for part in (item.counterparty, item.memo) if part) if direction == "in" else item.memo or item.counterparty,
                amount=("+" if item.amount_fen > 0 else "-") + format_yuan(abs(item.amount_fen)),
            )
            for item in view.items
        ]
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


class ActionCancel(Action):
    """Stop whatever is running: a transfer being put together, or a summary awaiting confirmation or PIN.

    The cancel button of a summary names its draft: pressed on a summary that a correction replaced,
    it says so and leaves the newer one alone.
    """

    def name(self) -> str:
        return "action_cancel"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        draft = open_draft(tracker, customer_id) if customer_id else None
        pressed = entity_value(tracker, "draft_id")
        if pressed and (draft is None or draft.draft_id != pressed):
            dispatcher.utter_message(text=phrases.say("draft_expired"))
            return []
        if draft is not None and customer_id:
            try:
                cancel_draft(uow(), customer_id=customer_id, draft_id=draft.draft_id)
            except WalletError:
                pass  # executed or expired meanwhile: the ledger knows; nothing to undo here
        busy = draft is not None or tracker.get_slot("transfer_step")
        dispatcher.utter_message(text=phrases.say("transfer_cancelled" if busy else "cancelled"), json_message={"type": "secret_cancelled"})
        return reset_events()


class ActionReportLocked(Action):
    def name(self) -> str:
        return "action_report_locked"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        if customer_id is not None:
            view = get_balance(reader(), customer_id)
            if view.status == "active" and cues.match("wants_freeze", latest_text(tracker)):
                return offer_freeze(dispatcher)  # "帮我把钱包冻结了": an active wallet the customer wants stopped
            if view.status in {"locked", "frozen"}:
                dispatcher.utter_message(
                    text=phrases.say(f"locked_now_{view.status}", until=_local(view.locked_until), reason=view.lock_reason or ""),
                    buttons=[{"title": phrases.say("human_button"), "payload": "/request_human"}, {"title": phrases.say("button_no_thanks"), "payload": "/deny"}],
                )
                return [SlotSet("pending_offer", "human")]
        hit = get_knowledge_base().lookup(latest_text(tracker), intent="report_account_locked")
        dispatcher.utter_message(text=hit.answer if hit else phrases.say("faq_missing"))
        return []


class ActionReportFraud(Action):
    def name(self) -> str:
        return "action_report_fraud"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        hit = get_knowledge_base().lookup(latest_text(tracker), intent="report_fraud")
        if hit:
            dispatcher.utter_message(text=hit.answer)
        if customer_of(tracker) is None:
            dispatcher.utter_message(text=phrases.say("fraud_anonymous"), json_message={"type": "handoff", "reason": "fraud", "priority": "urgent"})
            return []
        return offer_freeze(dispatcher)


def offer_freeze(dispatcher: CollectingDispatcher) -> list:
    """Offer to freeze the wallet now (a bare 好的 accepts), with a person as the other way out."""
    dispatcher.utter_message(
        text=phrases.say("fraud_offer_freeze"),
        buttons=[
            {"title": phrases.say("button_freeze"), "payload": "/affirm"},
            {"title": phrases.say("button_no_freeze"), "payload": "/deny"},
            {"title": phrases.say("human_button"), "payload": "/request_human"},
        ],
    )
    return [SlotSet("pending_offer", "freeze")]


def freeze_now(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    customer_id = customer_of(tracker)
    if customer_id is None:
        refuse_anonymous(dispatcher)
        return
    freeze_wallet(uow(), customer_id=customer_id, reason="customer_fraud_report", actor=f"customer:{customer_id}")
    dispatcher.utter_message(text=phrases.say("frozen_done"), json_message={"type": "handoff", "reason": "fraud", "priority": "urgent"})
