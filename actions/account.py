"""Account actions: balance, history, cancelling, locked wallets and fraud reports.

Each action learns the customer only from the gateway-signed identity in the message metadata, and
calls one `bot.wallet` service. Wallet errors become Chinese through `bot.wallet.messages.describe`.
The transfer conversation itself is `actions.transfer`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer_of, latest_text, reader, refuse_anonymous, uow
from actions.history import ActionCheckTransactions, asks_history  # noqa: F401  (registered with Rasa SDK here too)
from actions.transfer import ActionCancel  # noqa: F401  (registered with Rasa SDK here too)
from bot import cues, phrases
from bot.knowledge import get_knowledge_base
from bot.parsing import format_yuan
from bot.wallet import CUSTOMER_FRAUD_REPORT, freeze_wallet, get_balance

SHANGHAI = ZoneInfo("Asia/Shanghai")


BALANCE_WORDS = re.compile("余额|还剩|剩多少|剩下|还有多少钱")


class ActionCheckBalance(Action):
    def name(self) -> str:
        return "action_check_balance"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        if customer_id is None:
            return refuse_anonymous(dispatcher)
        if asks_history(tracker) and not BALANCE_WORDS.search(latest_text(tracker)):
            return ActionCheckTransactions().run(dispatcher, tracker, domain)  # "今天中午那笔外卖扣了多少"
        view = get_balance(reader(), customer_id)
        text = phrases.say("balance", wallet=view.wallet_no_masked, balance=format_yuan(view.balance_fen))
        if view.status != "active":
            text += phrases.say(f"wallet_status_{view.status}", until=_local(view.locked_until))
        dispatcher.utter_message(text=text)
        return [SlotSet("last_topic", "balance")]


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(SHANGHAI).strftime("%m月%d日 %H:%M")


class ActionReportLocked(Action):
    def name(self) -> str:
        return "action_report_locked"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        if wants_active_wallet_stopped(tracker):
            return offer_freeze(dispatcher)  # "帮我把钱包冻结了"
        customer_id = customer_of(tracker)
        if customer_id is not None:
            view = get_balance(reader(), customer_id)
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
        if cues.match("complaint", latest_text(tracker)):
            dispatcher.utter_message(text=phrases.say("complaint_sorry"))
        if hit:
            dispatcher.utter_message(text=hit.answer)
        if customer_of(tracker) is None:
            dispatcher.utter_message(text=phrases.say("fraud_anonymous"), json_message={"type": "handoff", "reason": "fraud", "priority": "urgent"})
            return []
        return offer_freeze(dispatcher)


def wants_active_wallet_stopped(tracker: Tracker) -> bool:
    """"能不能先把钱包锁住": a signed-in customer asks to stop their own active wallet, whatever the topic."""
    customer_id = customer_of(tracker)
    if customer_id is None or not cues.match("wants_freeze", latest_text(tracker)):
        return False
    return get_balance(reader(), customer_id).status == "active"


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
    freeze_wallet(uow(), customer_id=customer_id, reason=CUSTOMER_FRAUD_REPORT, actor=f"customer:{customer_id}")
    dispatcher.utter_message(text=phrases.say("frozen_done"), json_message={"type": "handoff", "reason": "fraud", "priority": "urgent"})

