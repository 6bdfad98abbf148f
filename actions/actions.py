"""Rasa SDK custom actions: thin adapters between the dialogue and the `bot` package.

Business rules live in `bot/`; an action reads the tracker, calls one function, and utters.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.account import (  # noqa: F401  (Rasa SDK registers every Action subclass it imports)
    ActionCancel,
    ActionCheckBalance,
    ActionCheckTransactions,
    ActionReportFraud,
    ActionReportLocked,
    asks_history,
    freeze_now,
    offer_freeze,
    wants_active_wallet_stopped,
)
from actions.common import customer_of, entity_value, latest_entities, latest_intent, latest_text, uow
from actions.history import requests_a_transfer
from actions.transfer import ActionTransfer, TransferTurn, in_transfer, open_draft, reset_events, transfer_news, transfer_override  # noqa: F401
from bot import cues
from bot import phrases as replies
from bot.knowledge import UnknownEntry, get_knowledge_base
from bot.parsing import format_yuan
from bot.wallet import WalletError, cancel_draft

RETRIEVAL_ANSWER_SCORE_MIN = 0.55
RETRIEVAL_SUGGEST_SCORE_MIN = 0.2
BARE_ANSWER_CHARS_MAX = 4  # 好的, 可以的, 不用了: longer "yes"/"no" with nothing pending is treated as unclear


class ActionAnswerFaq(Action):
    """Answer an FAQ intent from knowledge/ (a clicked topic button names its entry directly)."""

    def name(self) -> str:
        return "action_answer_faq"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        kb = get_knowledge_base()
        text = latest_text(tracker)
        override = transfer_override(dispatcher, tracker, domain)  # "多转点，改1000" read as a question
        if override is not None:
            return override
        customer_id = customer_of(tracker)
        if customer_id and latest_intent(tracker) == "ask_transfer_rules" and requests_a_transfer(tracker, customer_id):
            return ActionTransfer().run(dispatcher, tracker, domain)  # "804.69，转给我妈" read as a question about transfers
        entities = latest_entities(tracker)
        previous = tracker.get_slot("last_faq_id")
        if previous and cues.match("still_failing", text):
            # "试了还是不行" after an answer: the next step is a person, not the same answer again.
            dispatcher.utter_message(text=replies.say("still_failing"), buttons=human_buttons())
            return [SlotSet("fallback_streak", 0.0), SlotSet("pending_offer", "human")]
        entry = None
        if "faq_id" in entities:
            try:
                entry = kb.get(entities["faq_id"])
            except UnknownEntry:
                entry = None
        if entry is None and previous:
            entry = follow_up(kb, str(previous), text) or same_topic(kb, str(previous), text)
        if entry is None:
            entry = kb.answer_for(text, intent=latest_intent(tracker), entities=entities)  # a lost phone first
        if entry is None:
            dispatcher.utter_message(text=replies.say("faq_missing"), buttons=human_buttons())
            return [SlotSet("fallback_streak", 0.0), SlotSet("pending_offer", "human")]
        if cues.match("complaint", text) and entry.intent != "complain":
            dispatcher.utter_message(text=replies.say("complaint_sorry"))  # "投诉！扣了我两次钱": sorry first
        if (entry.offer == "freeze" and customer_id is not None) or wants_active_wallet_stopped(tracker):
            dispatcher.utter_message(text=entry.answer)
            return [*offer_freeze(dispatcher), SlotSet("fallback_streak", 0.0), SlotSet("last_faq_id", entry.id)]
        if entry.offers_human:
            dispatcher.utter_message(text=entry.answer, buttons=human_buttons())
            return [SlotSet("fallback_streak", 0.0), SlotSet("last_faq_id", entry.id), SlotSet("pending_offer", "human")]
        dispatcher.utter_message(text=entry.answer)
        step = tracker.get_slot("transfer_step")
        if step:  # a question in the middle of a transfer: answered, then the transfer's question again
            dispatcher.utter_message(text=replies.say(f"ask_{step}"))
        return [SlotSet("fallback_streak", 0.0), SlotSet("last_faq_id", entry.id), SlotSet("last_topic", None)]


STEP_NUMBER = re.compile(r"第\s*([一二三四五六七八九1-9])\s*(?:步|个步骤|点|条)")
STEP_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def same_topic(kb, previous_id: str, text: str):
    """"那充值呢" right after the withdrawal fee: the same topic's entry for the new word, if one matches."""
    if not cues.match("ellipsis", text):
        return None
    try:
        previous = kb.get(previous_id)
    except UnknownEntry:
        return None
    hit = kb.lookup(text, intent=previous.intent)
    return hit.entry if hit and hit.entry.id != previous.id else None


def follow_up(kb, previous_id: str, text: str):
    """"第三步是干嘛的" right after a numbered answer: the entry that explains that step, if it names one."""
    m = STEP_NUMBER.search(text)
    if not m:
        return None
    try:
        previous = kb.get(previous_id)
    except UnknownEntry:
        return None
    number = STEP_DIGITS.get(m.group(1)) or int(m.group(1))
    steps = getattr(previous, "steps", ()) or ()
    if not 1 <= number <= len(steps) or not steps[number - 1]:
        return None
    try:
        return kb.get(steps[number - 1])
    except UnknownEntry:
        return None


def human_buttons() -> list[dict[str, str]]:
    return [
        {"title": replies.say("human_button"), "payload": "/request_human"},
        {"title": replies.say("button_no_thanks"), "payload": "/deny"},
    ]


def hand_over(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> list:
    """Ask the gateway to queue the conversation now (it says where the customer stands, or offers a
    ticket when nobody can come). A transfer in progress is cancelled first, and the customer told."""
    events: list = []
    if in_transfer(tracker):
        customer_id = customer_of(tracker)
        draft = open_draft(tracker, customer_id) if customer_id else None
        if draft is not None and customer_id:
            try:
                cancel_draft(uow(), customer_id=customer_id, draft_id=draft.draft_id)
            except WalletError:
                pass
        dispatcher.utter_message(text=replies.say("handoff_transfer_cancelled"), json_message={"type": "secret_cancelled"})
        events = reset_events()
    dispatcher.utter_message(json_message={"type": "handoff", "reason": reason})
    return [*events, SlotSet("pending_offer", None), SlotSet("fallback_streak", 0.0)]


def answer_safety(dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
    """Somebody asked the customer for a code or a password: never give it, whoever asks."""
    hit = get_knowledge_base().lookup(latest_text(tracker), intent="report_fraud")
    dispatcher.utter_message(text=hit.answer if hit else replies.say("never_share_codes"))
    return [SlotSet("fallback_streak", 0.0)]


class ActionRequestHuman(Action):
    """转人工 and its many forms queue at once; a question about the service (hotline, hours) is answered."""

    def name(self) -> str:
        return "action_request_human"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = latest_text(tracker)
        if cues.match("asked_for_secret", text):
            return answer_safety(dispatcher, tracker)
        if not text.startswith("/") and customer_of(tracker) and asks_history(tracker):
            # Free text the model alone took for a request (the gateway asks for a person itself when the
            # words say so): "那前一笔呢" after a history answer is history.
            return ActionCheckTransactions().run(dispatcher, tracker, domain)
        if cues.match("asks_about_service", text):
            hit = get_knowledge_base().lookup(text, intent="request_human")
            dispatcher.utter_message(text=hit.answer if hit else replies.say("faq_missing"), buttons=human_buttons())
            return [SlotSet("pending_offer", "human")]
        return hand_over(dispatcher, tracker, "customer_request")


class ActionComplain(Action):
    """A complaint is apologised for; one that asks for someone is queued at once, others offered a person."""

    def name(self) -> str:
        return "action_complain"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = latest_text(tracker)
        hit = get_knowledge_base().lookup(text, intent="complain")
        if entity_value(tracker, "person") or cues.match("wants_person", text):
            dispatcher.utter_message(text=replies.say("complaint_sorry"))
            return hand_over(dispatcher, tracker, "complaint")
        dispatcher.utter_message(text=hit.answer if hit else replies.say("complaint_sorry"), buttons=human_buttons())
        return [SlotSet("pending_offer", "human"), SlotSet("fallback_streak", 0.0)]


class ActionHandleFallback(Action):
    """Low confidence: try retrieval, then offer the two likeliest topics, then offer a human."""

    def name(self) -> str:
        return "action_handle_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = latest_text(tracker)
        override = transfer_override(dispatcher, tracker, domain)
        if override is not None:
            return override
        customer_id = customer_of(tracker)
        if customer_id and transfer_news(tracker, customer_id, may_start=True):
            return TransferTurn(dispatcher, tracker, customer_id).play()
        kb = get_knowledge_base()
        previous = tracker.get_slot("last_faq_id")
        if previous and (STEP_NUMBER.search(text) or same_topic(kb, str(previous), text)):
            return ActionAnswerFaq().run(dispatcher, tracker, domain)  # "第三步呢", "那跨境的呢" after an answer
        if cues.match("asked_for_secret", text):
            return answer_safety(dispatcher, tracker)
        if cues.match("wants_person", text) and not cues.match("asks_about_service", text):
            return hand_over(dispatcher, tracker, "customer_request")
        if cues.match("lost_phone", text):
            return ActionAnswerFaq().run(dispatcher, tracker, domain)
        if customer_id and asks_history(tracker):
            return ActionCheckTransactions().run(dispatcher, tracker, domain)
        streak = int(tracker.get_slot("fallback_streak") or 0)
        if cues.match("still_failing", text):
            dispatcher.utter_message(text=replies.say("still_failing"), buttons=human_buttons())
            return [SlotSet("fallback_streak", 0.0), SlotSet("pending_offer", "human")]
        hits = kb.search(text, limit=2)
        if hits and hits[0].score >= RETRIEVAL_ANSWER_SCORE_MIN:
            dispatcher.utter_message(text=hits[0].answer)
            return [SlotSet("fallback_streak", 0.0)]
        if streak >= 1:
            dispatcher.utter_message(text=replies.say("offer_human"), buttons=human_buttons())
            return [SlotSet("fallback_streak", float(streak + 1)), SlotSet("pending_offer", "human")]
        suggestions = [hit.entry for hit in hits if hit.score >= RETRIEVAL_SUGGEST_SCORE_MIN]
        if not suggestions:  # nothing near it in the knowledge base: say what we can do, offer a person
            dispatcher.utter_message(text=replies.say("out_of_scope"), buttons=human_buttons())
            return [SlotSet("fallback_streak", float(streak + 1)), SlotSet("pending_offer", "human")]
        buttons = [
            {"title": entry.title, "payload": f'/{entry.intent}{{"faq_id": "{entry.id}"}}'} for entry in suggestions
        ]
        buttons.append({"title": replies.say("button_none_of_these"), "payload": "/deny"})
        dispatcher.utter_message(text=replies.say("did_you_mean"), buttons=buttons)
        return [SlotSet("fallback_streak", float(streak + 1)), SlotSet("pending_offer", None)]


class ActionResolveOffer(Action):
    """A bare yes or no: accept or decline what the bot last offered.

    A summary's confirm button names its draft: pressed on a summary that a correction replaced or
    that was cancelled, it says the summary expired and nothing else happens.
    """

    def name(self) -> str:
        return "action_resolve_offer"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        offer = tracker.get_slot("pending_offer")
        intent = latest_intent(tracker)
        pressed = entity_value(tracker, "draft_id")
        customer_id = customer_of(tracker)
        if not pressed and intent == "deny" and customer_id and transfer_news(tracker, customer_id, may_start=False):
            # "不对，改成150" / "哎呀不对 换一个人 给小刘": a no that brings the new amount or payee corrects
            # the transfer; it does not drop it.
            return TransferTurn(dispatcher, tracker, customer_id).play()
        if pressed or offer == "transfer":
            draft = open_draft(tracker, customer_id) if customer_id else None
            if pressed and (draft is None or draft.draft_id != pressed):
                dispatcher.utter_message(text=replies.say("draft_expired"))
                return []
            if intent != "affirm":
                return ActionCancel().run(dispatcher, tracker, domain)
            if draft is None:
                dispatcher.utter_message(text=replies.say("draft_expired"))
                return reset_events()
            summary = replies.say("pin_sheet_summary", recipient=draft.recipient_display, amount=format_yuan(draft.amount_fen))
            dispatcher.utter_message(
                text=replies.say("pin_prompt"),
                json_message={"type": "pin_request", "kind": "pin", "draft_id": draft.draft_id, "summary": summary},
            )
            return []  # the gateway takes it from here; the draft stays pending
        if tracker.get_slot("last_faq_id") and cues.match("still_failing", latest_text(tracker)):
            # "试了还是不行" after an answer is no "不用了": the next step is a person.
            dispatcher.utter_message(text=replies.say("still_failing"), buttons=human_buttons())
            return [SlotSet("fallback_streak", 0.0), SlotSet("pending_offer", "human")]
        if offer == "freeze" and intent == "affirm":
            freeze_now(dispatcher, tracker)
        elif offer == "human" and intent == "affirm":
            return hand_over(dispatcher, tracker, "customer_request")
        elif offer in ("human", "freeze") and intent == "deny":
            dispatcher.utter_message(text=replies.say("anything_else"))  # "不用了" to what was offered
        elif intent == "deny" and int(tracker.get_slot("fallback_streak") or 0) > 0:
            dispatcher.utter_message(text=replies.say("rephrase"))
        elif tracker.get_slot("transfer_step"):
            dispatcher.utter_message(text=replies.say(f"ask_{tracker.get_slot('transfer_step')}"))
            return []
        elif len(latest_text(tracker).strip()) > BARE_ANSWER_CHARS_MAX:
            # Nothing was offered and this is no bare 好的 / 不用了: the model was unsure, not the customer.
            return ActionHandleFallback().run(dispatcher, tracker, domain)
        else:
            dispatcher.utter_message(text=replies.say("anything_else"))
        return [SlotSet("pending_offer", None)]


class ActionOutOfScope(Action):
    """Not ours: say what we can do and offer a person — unless it names a payee and an amount."""

    def name(self) -> str:
        return "action_out_of_scope"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        override = transfer_override(dispatcher, tracker, domain)
        if override is not None:
            return override
        customer_id = customer_of(tracker)
        if customer_id and transfer_news(tracker, customer_id, may_start=True):
            return TransferTurn(dispatcher, tracker, customer_id).play()
        if tracker.get_slot("last_faq_id") and STEP_NUMBER.search(latest_text(tracker)):
            return ActionAnswerFaq().run(dispatcher, tracker, domain)  # "那第二步呢"
        if cues.match("lost_phone", latest_text(tracker)):
            return ActionAnswerFaq().run(dispatcher, tracker, domain)
        if customer_id and asks_history(tracker):
            return ActionCheckTransactions().run(dispatcher, tracker, domain)
        dispatcher.utter_message(text=replies.say("out_of_scope"), buttons=human_buttons())
        return [SlotSet("pending_offer", "human")]


class ActionSmallTalk(Action):
    """Hello, thanks, goodbye, "are you a robot": the domain's response for the intent — unless a transfer
    is in progress and the message is really about it ("还是300吧，不好意思" read as a greeting)."""

    def name(self) -> str:
        return "action_small_talk"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        override = transfer_override(dispatcher, tracker, domain)
        if override is not None:
            return override
        if tracker.get_slot("last_faq_id") and STEP_NUMBER.search(latest_text(tracker)):
            return ActionAnswerFaq().run(dispatcher, tracker, domain)  # "那第二步呢" is no goodbye
        if cues.match("lost_phone", latest_text(tracker)):
            return ActionAnswerFaq().run(dispatcher, tracker, domain)  # a lost phone, whatever the model heard
        dispatcher.utter_message(text=replies.say(f"small_talk_{latest_intent(tracker)}"))
        return []


# Load the knowledge base and train its entry ranker beside the server's start-up (never delaying it, so a
# server that cannot start fails at once), rather than on the first customer's question.
threading.Thread(target=lambda: get_knowledge_base().warm(), name="knowledge-warm-up", daemon=True).start()
