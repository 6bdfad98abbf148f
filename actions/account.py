"""Account actions: balance, history, the transfer form, locked wallets and fraud reports.

Each action learns the customer only from the gateway-signed identity in the message metadata, and
calls one `bot.wallet` service. Wallet errors become Chinese through `bot.wallet.messages.describe`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import phrases
from bot.db import get_session_factory
from bot.identity import IdentityInvalid, verify_identity
from bot.knowledge import get_knowledge_base
from bot.masking import mask_name
from bot.parsing import format_yuan, parse_amount, parse_period, to_fen
from bot.settings import get_settings
from bot.textnorm import normalize
from bot.wallet import (
    SqlAlchemyUnitOfWork,
    TransferRejected,
    WalletError,
    cancel_draft,
    create_transfer_draft,
    freeze_wallet,
    get_balance,
    list_transactions,
    resolve_recipient,
)
from bot.wallet.messages import describe

SHANGHAI = ZoneInfo("Asia/Shanghai")
FORM_FAILURES_MAX = 2
AMBIGUOUS_SCORE_GAP = 8  # recipient match scores are 0..100
TRANSFER_INTENTS = frozenset({"inform", "transfer_money"})
TRANSFER_SLOTS_RESET = ["recipient", "amount", "recipient_wallet_id", "amount_fen", "form_failures", "draft_id"]


def uow() -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(get_session_factory())


def reader() -> SqlAlchemyUnitOfWork:
    """A unit of work that only reads: balances, history, recipients (never queues for SQLite's write lock)."""
    return SqlAlchemyUnitOfWork(get_session_factory(), read_only=True)


def customer_of(tracker: Tracker) -> str | None:
    """The customer the gateway vouched for in this conversation, or None."""
    settings = get_settings()
    try:
        identity = verify_identity(
            settings.secret, tracker.latest_message.get("metadata"), sender=tracker.sender_id, max_age_s=settings.identity_max_age_s
        )
    except IdentityInvalid:
        return None
    return identity.customer_id


def latest_text(tracker: Tracker) -> str:
    return normalize(str(tracker.latest_message.get("text") or ""))


def latest_intent(tracker: Tracker) -> str:
    return str((tracker.latest_message.get("intent") or {}).get("name") or "")


def entity_value(tracker: Tracker, name: str) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == name and entity.get("value"):
            return str(entity["value"])
    return None


def refuse_anonymous(dispatcher: CollectingDispatcher) -> list:
    dispatcher.utter_message(text=phrases.say("login_required"))
    return []


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
    def name(self) -> str:
        return "action_check_transactions"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        if customer_id is None:
            return refuse_anonymous(dispatcher)
        now = datetime.now(SHANGHAI)
        text = latest_text(tracker)
        period = parse_period(entity_value(tracker, "time_period") or text, now) or parse_period(text, now)
        if period is None:
            start, end, label, latest_only = now - timedelta(days=30), now + timedelta(seconds=1), "最近30天", False
        else:
            start, end, label, latest_only = period.start, period.end, period.label, period.latest_only
        view = list_transactions(reader(), customer_id, start, end, limit=1 if latest_only else 5)
        if not view.items:
            dispatcher.utter_message(text=phrases.say("no_transactions", period=label))
            return []
        lines = [
            phrases.say(
                "transaction_line",
                when=item.at.astimezone(SHANGHAI).strftime("%m-%d %H:%M"),
                what=item.memo or item.counterparty,
                amount=("+" if item.amount_fen > 0 else "-") + format_yuan(abs(item.amount_fen)),
            )
            for item in view.items
        ]
        if latest_only:
            dispatcher.utter_message(text=phrases.say("latest_transaction", line=lines[0]))
            return []
        dispatcher.utter_message(
            text=phrases.say(
                "transactions_summary",
                period=label,
                count=view.count,
                spent=format_yuan(view.total_out_fen),
                received=format_yuan(view.total_in_fen),
                lines="\n".join(lines),
            )
        )
        return []


class ValidateTransferForm(FormValidationAction):
    """Fills recipient and amount from entities or the raw text, resolving names against the ledger."""

    def name(self) -> str:
        return "validate_transfer_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        return ["recipient", "amount"]

    def _fail(self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, reply: str) -> dict[str, Any]:
        failures = int(tracker.get_slot("form_failures") or 0) + 1
        if failures >= FORM_FAILURES_MAX:
            dispatcher.utter_message(
                text=phrases.say(f"{slot}_help"),
                buttons=[{"title": "继续转账", "payload": "/inform"}, {"title": "取消转账", "payload": "/cancel"}],
            )
            failures = 0
        else:
            dispatcher.utter_message(text=reply)
        return {slot: None, "form_failures": float(failures)}

    async def extract_amount(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        text = latest_text(tracker)
        intent = latest_intent(tracker)
        asked = tracker.get_slot("requested_slot") == "amount"
        value = parse_amount(normalize(entity_value(tracker, "amount") or "")) or parse_amount(text)
        # A new amount counts when it is asked for, or stated in a fresh transfer request.
        if value is not None and (asked or intent in TRANSFER_INTENTS or not tracker.get_slot("amount")):
            return {"amount": str(value)}
        if asked and intent in {"inform", "nlu_fallback"} and not entity_value(tracker, "recipient"):
            return {"amount": text}  # not understood: validated (and explained) below
        return {}

    async def extract_recipient(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        value = entity_value(tracker, "recipient")
        if value:
            return {"recipient": normalize(value)}
        text = latest_text(tracker)
        if tracker.get_slot("requested_slot") != "recipient" or latest_intent(tracker) not in TRANSFER_INTENTS | {"nlu_fallback"}:
            return {}
        if parse_amount(text) is not None:
            return {}  # "五百块" answers the amount, not the recipient
        for prefix in ("收款人是", "收款人", "转账给", "转给", "给", "是"):
            if text.startswith(prefix) and len(text) > len(prefix):
                text = text[len(prefix):]
                break
        return {"recipient": text.strip(" ,.。，!！吧呀啊")}

    def validate_recipient(self, value: Any, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        customer_id = customer_of(tracker)
        if customer_id is None:
            return {"recipient": None}
        candidates = resolve_recipient(reader(), customer_id, str(value or ""))
        if not candidates:
            return self._fail(dispatcher, tracker, "recipient", phrases.say("recipient_unknown", name=str(value)[:20]))
        best = candidates[0]
        close = [c for c in candidates[1:4] if best.score - c.score < AMBIGUOUS_SCORE_GAP]
        if close:
            dispatcher.utter_message(
                text=phrases.say("recipient_ambiguous"),
                buttons=[{"title": c.display_masked, "payload": f'/inform{{"recipient": "{c.wallet_id}"}}'} for c in [best, *close]],
            )
            return {"recipient": None}
        return {"recipient": best.display_masked, "recipient_wallet_id": str(best.wallet_id), "form_failures": 0.0}

    def validate_amount(self, value: Any, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        amount = parse_amount(normalize(str(value or "")))
        if amount is None:
            return self._fail(dispatcher, tracker, "amount", phrases.say("amount_unclear"))
        amount_fen = to_fen(amount)
        limit_fen = get_settings().transfer_limit_fen
        if amount_fen > limit_fen:
            return self._fail(dispatcher, tracker, "amount", phrases.say("amount_over_limit", limit=format_yuan(limit_fen)))
        return {"amount": format_yuan(amount_fen), "amount_fen": float(amount_fen), "form_failures": 0.0}


class ActionAskRecipient(Action):
    def name(self) -> str:
        return "action_ask_recipient"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        dispatcher.utter_message(text=phrases.say("ask_recipient"))
        return []


class ActionAskAmount(Action):
    def name(self) -> str:
        return "action_ask_amount"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        dispatcher.utter_message(text=phrases.say("ask_amount"))
        return []


class ActionStartTransfer(Action):
    """Only a signed-in customer may start the transfer form."""

    def name(self) -> str:
        return "action_start_transfer"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        if customer_of(tracker) is None:
            refuse_anonymous(dispatcher)
            return [ActiveLoop(None), SlotSet("requested_slot", None), *[SlotSet(s, None) for s in TRANSFER_SLOTS_RESET]]
        return []


class ActionTransferSummary(Action):
    """Create the draft in the ledger and ask for confirmation."""

    def name(self) -> str:
        return "action_transfer_summary"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        if customer_id is None:
            return refuse_anonymous(dispatcher)
        reset = [SlotSet(s, None) for s in TRANSFER_SLOTS_RESET]
        try:
            draft = create_transfer_draft(
                uow(),
                customer_id=customer_id,
                recipient_wallet_id=int(tracker.get_slot("recipient_wallet_id")),
                amount_fen=int(tracker.get_slot("amount_fen") or 0),
                channel=str((tracker.latest_message.get("metadata") or {}).get("channel", "web")),
            )
        except (TransferRejected, WalletError) as error:
            dispatcher.utter_message(text=describe(error))
            return reset
        key = "transfer_summary_otp" if draft.needs_otp else "transfer_summary"
        dispatcher.utter_message(
            text=phrases.say(key, recipient=draft.recipient_display, amount=format_yuan(draft.amount_fen), fee=format_yuan(draft.fee_fen)),
            buttons=[{"title": "确认转账", "payload": "/affirm"}, {"title": "取消", "payload": "/cancel"}],
        )
        return [*reset, SlotSet("draft_id", draft.draft_id), SlotSet("pending_offer", "transfer")]


class ActionCancel(Action):
    """Stop whatever is running: the transfer form or a draft awaiting confirmation or PIN."""

    def name(self) -> str:
        return "action_cancel"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        draft_id = tracker.get_slot("draft_id")
        customer_id = customer_of(tracker)
        if draft_id and customer_id:
            try:
                cancel_draft(uow(), customer_id=customer_id, draft_id=draft_id)
            except WalletError:
                pass  # already executed, expired or cancelled: the ledger knows; nothing to undo here
        text = phrases.say("transfer_cancelled" if (draft_id or tracker.active_loop_name) else "cancelled")
        dispatcher.utter_message(text=text, json_message={"type": "secret_cancelled"})
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("pending_offer", None),
                *[SlotSet(s, None) for s in TRANSFER_SLOTS_RESET]]


class ActionReportLocked(Action):
    def name(self) -> str:
        return "action_report_locked"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        if customer_id is not None:
            view = get_balance(reader(), customer_id)
            if view.status in {"locked", "frozen"}:
                dispatcher.utter_message(
                    text=phrases.say(f"locked_now_{view.status}", until=_local(view.locked_until), reason=view.lock_reason or ""),
                    buttons=[{"title": "转人工客服", "payload": "/request_human"}, {"title": "不用了", "payload": "/deny"}],
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
        dispatcher.utter_message(
            text=phrases.say("fraud_offer_freeze"),
            buttons=[{"title": "立即冻结", "payload": "/affirm"}, {"title": "暂不冻结", "payload": "/deny"}],
        )
        return [SlotSet("pending_offer", "freeze")]


def freeze_now(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    customer_id = customer_of(tracker)
    if customer_id is None:
        refuse_anonymous(dispatcher)
        return
    freeze_wallet(uow(), customer_id=customer_id, reason="customer_fraud_report", actor=f"customer:{customer_id}")
    dispatcher.utter_message(text=phrases.say("frozen_done"), json_message={"type": "handoff", "reason": "fraud", "priority": "urgent"})
