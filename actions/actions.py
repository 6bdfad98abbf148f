"""Rasa SDK custom actions: thin adapters between the dialogue and the `bot` package.

Business rules live in `bot/`; an action reads the tracker, calls one function, and utters.
"""

from __future__ import annotations

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
    ActionStartTransfer,
    ActionTransferSummary,
    ValidateTransferForm,
    freeze_now,
)
from bot import phrases as replies
from bot.knowledge import UnknownEntry, get_knowledge_base

RETRIEVAL_ANSWER_SCORE_MIN = 0.55
RETRIEVAL_SUGGEST_SCORE_MIN = 0.2
BARE_ANSWER_CHARS_MAX = 4  # 好的, 可以的, 不用了: longer "yes"/"no" with nothing pending is treated as unclear


def latest_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def latest_intent(tracker: Tracker) -> str:
    return str((tracker.latest_message.get("intent") or {}).get("name") or "")


def latest_entities(tracker: Tracker) -> dict[str, str]:
    return {e["entity"]: str(e.get("value")) for e in tracker.latest_message.get("entities") or [] if "entity" in e}


class ActionAnswerFaq(Action):
    """Answer an FAQ intent from knowledge/ (a clicked topic button names its entry directly)."""

    def name(self) -> str:
        return "action_answer_faq"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        kb = get_knowledge_base()
        entities = latest_entities(tracker)
        entry = None
        if "faq_id" in entities:
            try:
                entry = kb.get(entities["faq_id"])
            except UnknownEntry:
                entry = None
        if entry is None:
            hit = kb.lookup(latest_text(tracker), intent=latest_intent(tracker), entities=entities)
            entry = hit.entry if hit else None
        if entry is None:
            dispatcher.utter_message(text=replies.say("faq_missing"))
            return [SlotSet("fallback_streak", 0.0)]
        dispatcher.utter_message(text=entry.answer)
        events: list = [SlotSet("fallback_streak", 0.0)]
        if entry.intent in {"request_human", "complain"}:
            events.append(SlotSet("pending_offer", "human"))
        return events


class ActionHandleFallback(Action):
    """Low confidence: try retrieval, then offer the two likeliest topics, then offer a human."""

    def name(self) -> str:
        return "action_handle_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        kb = get_knowledge_base()
        streak = int(tracker.get_slot("fallback_streak") or 0)
        hits = kb.search(latest_text(tracker), limit=2)
        if hits and hits[0].score >= RETRIEVAL_ANSWER_SCORE_MIN:
            dispatcher.utter_message(text=hits[0].answer)
            return [SlotSet("fallback_streak", 0.0)]
        if streak >= 1:
            dispatcher.utter_message(
                text=replies.say("offer_human"),
                buttons=[
                    {"title": "转人工客服", "payload": "/request_human"},
                    {"title": "不用了", "payload": "/deny"},
                ],
            )
            return [SlotSet("fallback_streak", float(streak + 1)), SlotSet("pending_offer", "human")]
        suggestions = [hit for hit in hits if hit.score >= RETRIEVAL_SUGGEST_SCORE_MIN]
        if not suggestions:
            suggestions = [kb.entries_for("ask_wallet_intro")[0], kb.entries_for("ask_open_wallet")[0]]
        else:
            suggestions = [hit.entry for hit in suggestions]
        buttons = [
            {"title": entry.title, "payload": f'/{entry.intent}{{"faq_id": "{entry.id}"}}'} for entry in suggestions
        ]
        buttons.append({"title": "都不是", "payload": "/deny"})
        dispatcher.utter_message(text=replies.say("did_you_mean"), buttons=buttons)
        return [SlotSet("fallback_streak", float(streak + 1)), SlotSet("pending_offer", None)]


class ActionResolveOffer(Action):
    """A bare yes or no: accept or decline what the bot last offered."""

    def name(self) -> str:
        return "action_resolve_offer"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        offer = tracker.get_slot("pending_offer")
        intent = latest_intent(tracker)
        if offer == "transfer":
            if intent == "affirm":
                dispatcher.utter_message(
                    text=replies.say("pin_prompt"),
                    json_message={"type": "pin_request", "kind": "pin", "draft_id": tracker.get_slot("draft_id")},
                )
                return []  # the gateway takes it from here; the draft stays pending
            return ActionCancel().run(dispatcher, tracker, domain)
        if offer == "freeze" and intent == "affirm":
            freeze_now(dispatcher, tracker)
        elif offer == "human" and intent == "affirm":
            dispatcher.utter_message(text=replies.say("handoff_requested"), json_message={"type": "handoff", "reason": "customer_request"})
        elif intent == "deny" and int(tracker.get_slot("fallback_streak") or 0) > 0:
            dispatcher.utter_message(text=replies.say("rephrase"))
        elif tracker.active_loop_name:
            dispatcher.utter_message(text=replies.say("form_continue"))
        elif len(latest_text(tracker).strip()) > BARE_ANSWER_CHARS_MAX:
            # Nothing was offered and this is no bare 好的 / 不用了: the model was unsure, not the customer.
            return ActionHandleFallback().run(dispatcher, tracker, domain)
        else:
            dispatcher.utter_message(text=replies.say("anything_else"))
        return [SlotSet("pending_offer", None)]
