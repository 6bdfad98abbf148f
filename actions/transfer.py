"""The transfer conversation: who, how much, a summary to confirm — and corrections at any point.

One action plays it (no Rasa form), so that every message of a transfer is read the same way:

    slots    transfer_step  what the bot asked for last: "recipient" | "amount" | None
             recipient_wallet_id, recipient, amount_fen   what is known so far
             draft_id, pending_offer="transfer"           a summary is shown and awaits 确认转账

The amount always comes from the whole message through `bot.parsing.read_amount` (the NLU entity is
never trusted for the figure); recipients from the sentence (`find_recipients_in_text`), or, when the
bot asked for one, from the bare answer. A message that changes the amount or the recipient of a shown
summary replaces it: the ledger cancels the old draft when the new one is written, and its buttons then
say it expired (`ActionResolveOffer`). Money never moves here: the gateway takes the PIN.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer_of, entity_value, latest_intent, latest_text, reader, refuse_anonymous, uow
from actions.history import ActionCheckTransactions, asks_history
from bot import cues, phrases
from bot.parsing import format_yuan, read_amount, to_fen
from bot.settings import get_settings
from bot.wallet import (
    DraftView,
    TransferRejected,
    WalletError,
    cancel_draft,
    create_transfer_draft,
    find_recipients_in_text,
    get_draft,
    recent_same_transfer,
    resolve_recipient,
)
from bot.wallet.messages import describe

TRANSFER_SLOTS = ["recipient", "amount", "recipient_wallet_id", "amount_fen", "form_failures", "draft_id", "transfer_step"]
OPEN_DRAFT = ("draft", "confirmed")
FAILURES_MAX = 2
AMBIGUOUS_SCORE_GAP = 8  # recipient match scores are 0..100
DUPLICATE_WINDOW_S = 600
TRANSFER_VERB = re.compile("转账|转钱|转一?笔|汇款|打钱|我要转|帮我转")
SENDING_WORD = re.compile("转|汇|打钱|打给|打过去")
BARE_OPTION = re.compile(r"^\s*[0-9]{1,2}\s*$")
BARE_ANSWER_PREFIXES = re.compile(r"^(?:收款人是|收款人|转账给|转给|给|是|就|转)")
BARE_ANSWER_NOISE = " ,.。，!！?？~～吧呀啊哦嗯的了"


def payees_in(customer_id: str, text: str) -> list:
    """The saved recipients, phones or wallet numbers a sentence names (我妈 counts as 妈妈)."""
    return find_recipients_in_text(reader(), customer_id, text, also_called=cues.also_called())


def reset_events() -> list:
    """Forget every trace of a transfer in the dialogue (the ledger keeps its own record)."""
    return [SlotSet(name, None) for name in TRANSFER_SLOTS] + [SlotSet("pending_offer", None), SlotSet("last_topic", None)]


def open_draft(tracker: Tracker, customer_id: str) -> DraftView | None:
    """The summary the customer was last shown, while it can still be confirmed."""
    draft_id = tracker.get_slot("draft_id")
    if not draft_id:
        return None
    try:
        draft = get_draft(reader(), customer_id=customer_id, draft_id=str(draft_id))
    except WalletError:
        return None
    return draft if draft.status in OPEN_DRAFT else None


def in_transfer(tracker: Tracker) -> bool:
    """Whether a transfer is being put together or awaits confirmation in this conversation."""
    return bool(tracker.get_slot("transfer_step") or tracker.get_slot("draft_id"))


def summary_buttons(draft_id: str) -> list[dict[str, str]]:
    """Confirm and cancel name their draft, so a superseded summary's buttons cannot act on a newer one."""
    return [
        {"title": phrases.say("button_confirm_transfer"), "payload": f'/affirm{{"draft_id": "{draft_id}"}}'},
        {"title": phrases.say("button_cancel_transfer"), "payload": f'/cancel{{"draft_id": "{draft_id}"}}'},
    ]


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
        if draft is not None and not pressed and cues.match("hold_on", latest_text(tracker)):
            dispatcher.utter_message(text=phrases.say("transfer_hold"))  # "等一下" is a pause, not a no
            return []
        if draft is not None and customer_id:
            try:
                cancel_draft(uow(), customer_id=customer_id, draft_id=draft.draft_id)
            except WalletError:
                pass  # executed or expired meanwhile: the ledger knows; nothing to undo here
        busy = draft is not None or tracker.get_slot("transfer_step")
        dispatcher.utter_message(text=phrases.say("transfer_cancelled" if busy else "cancelled"), json_message={"type": "secret_cancelled"})
        return reset_events()


class ActionTransfer(Action):
    """Every message of a transfer conversation: a request, a bare answer, a correction."""

    def name(self) -> str:
        return "action_transfer"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        customer_id = customer_of(tracker)
        if customer_id is None:
            refuse_anonymous(dispatcher)
            return reset_events()
        if tracker.get_slot("last_topic") == "balance" and not in_transfer(tracker) and cues.match("ellipsis", latest_text(tracker)):
            dispatcher.utter_message(text=phrases.say("balance_own_only"))  # "那李四的呢" after a balance
            return []
        if not in_transfer(tracker) and cues.match("incoming_money", latest_text(tracker)):
            return ActionCheckTransactions().run(dispatcher, tracker, domain)  # money coming in is never a transfer out
        informs, after_history = latest_intent(tracker) == "inform", tracker.get_slot("last_topic") == "history"
        if (in_transfer(tracker) or informs or after_history) and asks_history(tracker) and not names_money_or_payee(tracker, customer_id):
            # "最近一笔" beside a summary (the summary stays), "那前一笔呢" after a history answer
            return ActionCheckTransactions().run(dispatcher, tracker, domain)
        if informs and not in_transfer(tracker) and not names_money_or_payee(tracker, customer_id):
            dispatcher.utter_message(text=phrases.say("inform_without_context"))
            return []
        return TransferTurn(dispatcher, tracker, customer_id).play()


def names_money_or_payee(tracker: Tracker, customer_id: str) -> bool:
    """"王五 800", "给妈妈", "500块": a bare value that only makes sense as the start of a transfer."""
    text = latest_text(tracker)
    if entity_value(tracker, "recipient_wallet_id") or read_amount(text).kind != "none":
        return True
    return bool(payees_in(customer_id, text))


class TransferTurn:
    """One customer message read against what the transfer already knows."""

    def __init__(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: str) -> None:
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.customer_id = customer_id
        self.text = latest_text(tracker)
        self.step = tracker.get_slot("transfer_step")
        self.draft = open_draft(tracker, customer_id)
        self.events: list = []
        if self.draft is not None:  # a correction starts from the summary on screen
            self.recipient_id: int | None = self.draft.recipient_wallet_id
            self.amount_fen: int | None = self.draft.amount_fen
        else:
            wallet_id = tracker.get_slot("recipient_wallet_id")
            self.recipient_id = int(wallet_id) if wallet_id else None
            amount_fen = tracker.get_slot("amount_fen")
            self.amount_fen = int(amount_fen) if amount_fen else None

    # ── reading the message ─────────────────────────────────────────────────────────────────

    def play(self) -> list:
        if self.draft is not None and BARE_OPTION.match(self.text):
            return self._show_summary_again()  # "1" under a summary picks an option, never an amount of ¥1
        recipient_news = self._read_recipient()
        amount_news = self._read_amount()
        if recipient_news == "stop" or amount_news == "stop":
            return self.events
        if self.draft is not None and not (recipient_news or amount_news):
            if latest_intent(self.tracker) == "transfer_money":  # "我要转账" again: a fresh start
                self._drop_draft()
                self.recipient_id = self.amount_fen = None
            else:
                return self._show_summary_again()
        if self.recipient_id is None:
            return self._ask("recipient")
        if self.amount_fen is None:
            return self._ask("amount")
        return self._summary()

    def _read_amount(self) -> bool | str:
        """True when the message states a usable amount; "stop" when it was refused or unclear."""
        reading = read_amount(self.text)
        if reading.kind == "none":
            if self.step == "amount" and self._looks_like_bare_answer():
                return self._fail("amount", phrases.say("amount_unclear"))
            return False
        if reading.kind in ("vague", "several"):
            return self._stop_and_ask("amount", phrases.say("amount_which"))
        if reading.kind in ("negative", "zero"):
            return self._stop_and_ask("amount", phrases.say("amount_not_positive"))
        amount_fen = to_fen(reading.amount)
        limit_fen = get_settings().transfer_limit_fen
        if amount_fen > limit_fen:
            return self._stop_and_ask("amount", phrases.say("amount_over_limit", limit=format_yuan(limit_fen)))
        self.amount_fen = amount_fen
        return True

    def _read_recipient(self) -> bool | str:
        """True when the message names one recipient; "stop" when it named none we know, or several."""
        chosen = entity_value(self.tracker, "recipient_wallet_id")  # a button of the "which one" question
        if chosen and chosen.isdigit():
            self.recipient_id = int(chosen)
            return True
        candidates = payees_in(self.customer_id, self.text)
        if not candidates:
            named = entity_value(self.tracker, "recipient")
            if named:
                candidates = self._closest(named)
            elif self.step == "recipient" and self._looks_like_bare_answer() and not self._new_request():
                answer = BARE_ANSWER_PREFIXES.sub("", self.text).strip(BARE_ANSWER_NOISE)
                candidates = self._closest(answer)
                if not candidates:
                    return self._fail("recipient", phrases.say("recipient_unknown", name=answer[:20]))
        if len(candidates) > 1:
            self.dispatcher.utter_message(
                text=phrases.say("recipient_ambiguous"),
                buttons=[
                    {"title": c.display_masked, "payload": f'/inform{{"recipient_wallet_id": "{c.wallet_id}"}}'}
                    for c in candidates
                ],
            )
            self.events.append(SlotSet("transfer_step", "recipient"))
            return "stop"
        if candidates:
            self.recipient_id = candidates[0].wallet_id
            return True
        return False

    def _closest(self, name: str) -> list:
        """Fuzzy matches of a name among the saved recipients: the best one, or the close ones when unclear."""
        candidates = resolve_recipient(reader(), self.customer_id, name)
        if not candidates:
            return []
        best = candidates[0]
        return [best, *[c for c in candidates[1:4] if best.score - c.score < AMBIGUOUS_SCORE_GAP]]

    def _new_request(self) -> bool:
        """"帮我转一笔钱" while we wait for a name: the request again, not the name."""
        return latest_intent(self.tracker) == "transfer_money" and TRANSFER_VERB.search(self.text) is not None

    def _looks_like_bare_answer(self) -> bool:
        """A short message that answers the question asked, not a new topic."""
        return latest_intent(self.tracker) in {"inform", "transfer_money", "nlu_fallback"} and len(self.text) <= 24

    # ── answering ───────────────────────────────────────────────────────────────────────────

    def _stop_and_ask(self, slot: str, reply: str) -> str:
        """Refuse or question what was said about `slot`: nothing is drafted, the old summary is void."""
        self._drop_draft(say_so=True)
        self.dispatcher.utter_message(text=reply)
        self.events += [SlotSet("transfer_step", slot), *self._known_events()]
        return "stop"

    def _fail(self, slot: str, reply: str) -> str:
        failures = int(self.tracker.get_slot("form_failures") or 0) + 1
        if failures >= FAILURES_MAX:
            key = f"{slot}_help"
            values = {"limit": format_yuan(get_settings().transfer_limit_fen)} if slot == "amount" else {}
            self.dispatcher.utter_message(
                text=phrases.say(key, **values),
                buttons=[{"title": phrases.say("button_cancel_transfer"), "payload": "/cancel"}],
            )
            failures = 0
        else:
            self.dispatcher.utter_message(text=reply)
        self.events += [SlotSet("transfer_step", slot), SlotSet("form_failures", float(failures)), *self._known_events()]
        return "stop"

    def _ask(self, slot: str) -> list:
        self.dispatcher.utter_message(text=phrases.say(f"ask_{slot}"))
        return [*self.events, SlotSet("transfer_step", slot), *self._known_events()]

    def _known_events(self) -> list:
        return [
            SlotSet("recipient_wallet_id", str(self.recipient_id) if self.recipient_id else None),
            SlotSet("amount_fen", float(self.amount_fen) if self.amount_fen else None),
            SlotSet("draft_id", None),
            SlotSet("pending_offer", None),
        ]

    def _drop_draft(self, *, say_so: bool = False) -> None:
        """Cancel the summary on screen (and any PIN request for it)."""
        if self.draft is None:
            return
        try:
            cancel_draft(uow(), customer_id=self.customer_id, draft_id=self.draft.draft_id)
        except WalletError:
            pass  # executed or expired meanwhile: the ledger knows
        if say_so:
            self.dispatcher.utter_message(
                text=phrases.say("transfer_replaced", recipient=self.draft.recipient_display, amount=format_yuan(self.draft.amount_fen)),
                json_message={"type": "secret_cancelled"},
            )
        self.draft = None

    def _show_summary_again(self) -> list:
        draft = self.draft
        assert draft is not None
        self.dispatcher.utter_message(
            text=phrases.say(
                "transfer_summary_otp" if draft.needs_otp else "transfer_summary",
                recipient=draft.recipient_display, amount=format_yuan(draft.amount_fen), fee=format_yuan(draft.fee_fen),
            ),
            buttons=summary_buttons(draft.draft_id),
        )
        return []

    def _summary(self) -> list:
        replaced = self.draft
        try:
            draft = create_transfer_draft(
                uow(),
                customer_id=self.customer_id,
                recipient_wallet_id=int(self.recipient_id or 0),
                amount_fen=int(self.amount_fen or 0),
                channel=str((self.tracker.latest_message.get("metadata") or {}).get("channel", "web")),
            )
        except (TransferRejected, WalletError) as error:
            self._drop_draft(say_so=True)
            self.dispatcher.utter_message(text=describe(error))
            return [*self.events, *reset_events()]
        prefix = ""
        if replaced is not None:  # the ledger cancelled it when it wrote the new draft
            prefix = phrases.say("transfer_replaced", recipient=replaced.recipient_display, amount=format_yuan(replaced.amount_fen))
        if recent_same_transfer(
            reader(), customer_id=self.customer_id, recipient_wallet_id=draft.recipient_wallet_id,
            amount_fen=draft.amount_fen, within_s=DUPLICATE_WINDOW_S,
        ):
            prefix += phrases.say("transfer_duplicate_warning", recipient=draft.recipient_display,
                                  amount=format_yuan(draft.amount_fen), minutes=DUPLICATE_WINDOW_S // 60)
        key = "transfer_summary_otp" if draft.needs_otp else "transfer_summary"
        self.dispatcher.utter_message(
            text=prefix + phrases.say(key, recipient=draft.recipient_display, amount=format_yuan(draft.amount_fen), fee=format_yuan(draft.fee_fen)),
            buttons=summary_buttons(draft.draft_id),
            json_message={"type": "secret_cancelled"} if replaced is not None else None,
        )
        return [*self.events, *reset_events(), SlotSet("draft_id", draft.draft_id), SlotSet("pending_offer", "transfer")]


def transfer_news(tracker: Tracker, customer_id: str | None, *, may_start: bool) -> bool:
    """Whether a message the model put elsewhere belongs to the transfer conversation after all.

    In a transfer, a message that states an amount or names a payee and corrects ("多转点，改1000") or
    answers the question asked, or is short. Outside one (`may_start`, for messages the model could not
    place), a message that names both a saved payee and an exact amount ("王五 100 借他吃饭"), or a payee,
    a word for sending and an unclear amount ("转他十几块", so the bot asks which amount).
    """
    if customer_id is None:
        return False
    text = latest_text(tracker)
    reading = read_amount(text)
    if in_transfer(tracker):
        if reading.kind == "none" and not payees_in(customer_id, text):
            return False
        return bool(cues.match("correction", text) or tracker.get_slot("transfer_step") or len(text) <= 12)
    if not may_start or reading.kind == "none" or not payees_in(customer_id, text):
        return False
    # "王五 100 借他吃饭"; with a word for sending, an unclear amount too ("转他十几块": which amount?)
    return reading.kind == "exact" or (reading.kind in ("vague", "several") and SENDING_WORD.search(text) is not None)


def transfer_override(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list | None:
    """While a transfer is in progress, a message the model put elsewhere may still be about it: a
    correction or an answer ("多转点，改1000"), a hold ("等一下": the summary stays), or dropping it
    ("哦那已经转过了，不用了"). Returns the events when it was, None to let the caller answer."""
    customer_id = customer_of(tracker)
    if customer_id is None or not in_transfer(tracker):
        return None
    text = latest_text(tracker)
    if cues.match("hold_on", text):
        dispatcher.utter_message(text=phrases.say("transfer_hold"))
        return []
    if cues.match("drops_it", text) and read_amount(text).kind == "none":
        return ActionCancel().run(dispatcher, tracker, domain)
    if transfer_news(tracker, customer_id, may_start=False):
        return TransferTurn(dispatcher, tracker, customer_id).play()
    return None
