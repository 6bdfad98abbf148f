"""The `expect:` keys of FORMAT.md, one small checker each, over one turn's `TurnView`.

A turn's replies are the bot's, the agent's and the gateway's messages stored in the conversation
during the turn (the same on every channel), plus what the channel showed the customer that is not
stored (a refusal, a rendered hint). A checker returns the problems it found: `Problem(reason, detail)`
where `reason` is short and stable (the report counts reasons) and `detail` says what was there.
A money problem (a transfer summary for the wrong amount) carries `money=True`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.handoff import MessageView
from bot.phrases import say
from bot.parsing import format_yuan, to_fen
from bot.wallet.demo import PEOPLE
from bot.wallet.services import mask_wallet_no
from tests.conversations import reference as ref
from tests.conversations.corpus import Expect, Summary, recipient_names
from tests.conversations.state import DraftRow, Ledger

ACTIVE_HANDOFF = ("queued", "assigned")


@dataclass(frozen=True)
class Problem:
    reason: str
    detail: str = ""
    money: bool = False


@dataclass
class TurnView:
    customer_id: str | None
    messages: list[MessageView]  # stored during the turn, every sender
    seen: list[str]  # what the channel showed that the database may not hold
    drafts_before: dict[str, DraftRow]
    drafts_after: dict[str, DraftRow]
    ledger_before: Ledger
    ledger_after: Ledger
    handoff_state: str  # after the turn
    wallet_of: Callable[[str], int]

    @property
    def replies(self) -> list[MessageView]:
        return [m for m in self.messages if m.sender != "customer"]

    @property
    def texts(self) -> list[str]:
        return list(dict.fromkeys([m.text for m in self.replies if m.text] + [t for t in self.seen if t]))

    @property
    def new_drafts(self) -> list[DraftRow]:
        return [d for draft_id, d in self.drafts_after.items() if draft_id not in self.drafts_before]

    @property
    def money_moved(self) -> bool:
        return self.ledger_after.moved_since(self.ledger_before)

    def buttons(self) -> list[dict]:
        return [button for m in self.replies for button in m.buttons]

    def pin_requests(self) -> list[str]:
        return [str(m.custom.get("kind")) for m in self.replies if (m.custom or {}).get("type") == "pin_request"]

    def person_of_wallet(self, wallet_id: int) -> str:
        for person in PEOPLE:
            if self.wallet_of(person.customer_id) == wallet_id:
                return person.name
        return f"wallet {wallet_id}"


# ---------------------------------------------------------------- matching


def _quote(texts: list[str], chars: int = 60) -> str:
    shown = " | ".join(t.replace("\n", " ")[:chars] for t in texts[:4])
    return shown or "(no reply)"


def contains(texts: list[str], needle: str) -> bool:
    """Substring match; Latin letters ignore case."""
    needle = needle.casefold()
    return any(needle in text.casefold() for text in texts)


def says_phrase(view: TurnView, key: str, how: str) -> bool:
    """A reply `equals`, `starts` with, or `contains` phrase `key` (placeholders match anything)."""
    pattern = ref.phrase_pattern(key)
    if how == "equals":
        return any(pattern.fullmatch(m.text.strip()) for m in view.replies)
    if how == "starts":
        return any(pattern.match(m.text.strip()) for m in view.replies)
    return any(pattern.search(text) for text in view.texts)


def offers_ticket(view: TurnView) -> bool:
    return any(str(b.get("payload", "")).startswith("@ticket:") for b in view.buttons())


def is_human_button(button: dict) -> bool:
    """A "talk to a person" button: Rasa's /request_human (with or without entities) or the gateway's @handoff."""
    payload = str(button.get("payload", ""))
    return payload == "/request_human" or payload.startswith(("/request_human{", "@handoff"))


def offers_human(view: TurnView) -> bool:
    return any(is_human_button(b) for b in view.buttons())


def is_freeze_button(button: dict) -> bool:
    """Accepts the offer to freeze: titled 立即冻结 (phrase button_freeze), or a payload about freezing."""
    title, payload = str(button.get("title", "")), str(button.get("payload", ""))
    try:
        titles = {"立即冻结", ref.phrase("button_freeze")}
    except ref.PhraseMissing:
        titles = {"立即冻结"}
    return title in titles or "freeze" in payload or ("冻结" in title and not title.startswith(("暂不", "不", "先不", "取消")))


# ---------------------------------------------------------------- the checkers


def check_summary(view: TurnView, expected: Summary) -> list[Problem]:
    fen = to_fen(expected.amount)
    wallet = view.wallet_of(recipient_names(view.customer_id or "")[expected.recipient])
    want = f"{format_yuan(fen)} to {expected.recipient}"
    pending = [d for d in view.new_drafts if d.status == "draft"]
    if not pending:
        shown = ", ".join(f"{format_yuan(d.amount_fen)} {d.status}" for d in view.new_drafts) or "none"
        return [Problem("no new pending draft", f"wanted {want}; new drafts: {shown}")]
    problems: list[Problem] = []
    if not any(d.amount_fen == fen and d.recipient_wallet_id == wallet for d in pending):
        got = ", ".join(f"{format_yuan(d.amount_fen)} to {view.person_of_wallet(d.recipient_wallet_id)}" for d in pending)
        if not any(d.amount_fen == fen for d in pending):
            problems.append(Problem("draft for the wrong amount", f"wanted {want}; drafted {got}", money=True))
        else:
            problems.append(Problem("draft to the wrong recipient", f"wanted {want}; drafted {got}"))
    if not any(format_yuan(fen) in text for text in view.texts):
        problems.append(Problem("summary does not state the amount", f"no reply says {format_yuan(fen)}: {_quote(view.texts)}"))
    if view.money_moved:
        problems.append(Problem("money moved before confirmation"))
    return problems


def check_no_summary(view: TurnView) -> list[Problem]:
    if view.new_drafts:
        shown = ", ".join(f"{format_yuan(d.amount_fen)} to {view.person_of_wallet(d.recipient_wallet_id)}" for d in view.new_drafts)
        return [Problem("a draft was created", shown)]
    return []


ASKED_PHRASES = {"amount": ("ask_amount", "equals"), "recipient": ("ask_recipient", "equals"),
                 "login": ("login_required", "contains"), "which_amount": ("amount_which", "starts")}


def check_asks(view: TurnView, what: str) -> list[Problem]:
    if what in ("pin", "otp"):
        if what in view.pin_requests():
            return []
        return [Problem(f"no {what} request", f"pin requests: {view.pin_requests() or 'none'}; replies: {_quote(view.texts)}")]
    key, how = ASKED_PHRASES[what]
    if says_phrase(view, key, how):
        return []
    return [Problem(f"did not ask {what}", f"no reply {how} phrase {key}: {_quote(view.texts)}")]


def check_refused(view: TurnView) -> list[Problem]:
    problems = check_no_summary(view)
    if view.money_moved:
        problems.append(Problem("money moved"))
    if view.pin_requests():
        problems.append(Problem("asked for a secret", ", ".join(view.pin_requests())))
    return problems


def check_draft(view: TurnView, what: str) -> list[Problem]:
    if what == "expired_notice":
        problems = [] if says_phrase(view, "draft_expired", "contains") else [Problem("no expired notice", _quote(view.texts))]
        return problems + ([Problem("money moved")] if view.money_moved else [])
    open_before = [d for d in view.drafts_before.values() if d.open]
    if not open_before:
        return [Problem("no summary was pending before this turn")]
    problems = []
    for draft in open_before:
        after = view.drafts_after[draft.id]
        if after.open or after.status == "executed":
            problems.append(Problem("earlier summary still valid", f"{format_yuan(draft.amount_fen)} is {after.status}"))
    return problems


def check_queued(view: TurnView, expected: bool) -> list[Problem]:
    if (view.handoff_state in ACTIVE_HANDOFF) == expected:
        return []
    return [Problem("queued" if not expected else "not queued", f"conversation state {view.handoff_state}")]


def check_ticket_offered(view: TurnView) -> list[Problem]:
    return [] if offers_ticket(view) else [Problem("no ticket offer", _quote(view.texts))]


def check_human_offered(view: TurnView) -> list[Problem]:
    return [] if offers_human(view) else [Problem("no human button", _buttons(view))]


def check_freeze_offered(view: TurnView) -> list[Problem]:
    return [] if any(is_freeze_button(b) for b in view.buttons()) else [Problem("no freeze offer", _buttons(view))]


def check_pin_error(view: TurnView) -> list[Problem]:
    if says_phrase(view, "pin_wrong", "contains") or says_phrase(view, "otp_wrong", "contains"):
        return []
    return [Problem("no tries-left message", _quote(view.texts))]


def check_duplicate_warning(view: TurnView) -> list[Problem]:
    start = ref.phrase_start("transfer_duplicate_warning")
    if (start and contains(view.texts, start)) or (not start and says_phrase(view, "transfer_duplicate_warning", "contains")):
        return []
    return [Problem("no duplicate warning", _quote(view.texts))]


def check_balance(view: TurnView, amount) -> list[Problem]:
    stated = format_yuan(to_fen(amount))
    return [] if any(stated in text for text in view.texts) else [Problem("balance not stated", f"no {stated} in: {_quote(view.texts)}")]


def check_says_any(view: TurnView, phrases: tuple[str, ...]) -> list[Problem]:
    if any(contains(view.texts, phrase) for phrase in phrases):
        return []
    return [Problem("none of the words", f"{'/'.join(phrases)} not in: {_quote(view.texts, 120)}")]


def check_says_none(view: TurnView, phrases: tuple[str, ...]) -> list[Problem]:
    said = [phrase for phrase in phrases if contains(view.texts, phrase)]
    return [Problem("said a forbidden word", f"{'/'.join(said)} in: {_quote(view.texts, 120)}")] if said else []


def _buttons(view: TurnView) -> str:
    return "buttons: " + (", ".join(f"{b.get('title')}={b.get('payload')}" for b in view.buttons()) or "none")


# ---------------------------------------------------------------- answers: [intents]


def answers_intent(view: TurnView, intent: str) -> Problem | None:
    if intent == "check_balance":
        pattern = ref.phrase_pattern("balance")
        wallet = mask_wallet_no(_wallet_no(view.customer_id)) if view.customer_id else None
        if any(pattern.search(t) and "余额" in t and "¥" in t and (wallet is None or wallet in t) for t in view.texts):
            return None
        return Problem("no balance answer", _quote(view.texts))
    if intent == "check_transactions":
        if any(says_phrase(view, key, "contains") for key in ("transactions_summary", "latest_transaction", "no_transactions", "no_transactions_incoming", "previous_transaction", "no_previous_transaction")):
            return None
        return Problem("no transactions answer", _quote(view.texts))
    if intent == "transfer_money":
        if any(d.status == "draft" for d in view.new_drafts) or not check_asks(view, "amount") or not check_asks(view, "recipient"):
            return None
        return Problem("no summary or transfer question", _quote(view.texts))
    if intent == "request_human":
        return None if view.handoff_state in ACTIVE_HANDOFF or offers_ticket(view) else Problem("neither queued nor ticket offered", _quote(view.texts))
    if intent == "report_fraud":
        if _has_answer(view, intent) or any(is_freeze_button(b) for b in view.buttons()) or _says_any_key(view, ("fraud_anonymous", "fraud_offer_freeze")):
            return None
        return Problem("no fraud answer", _quote(view.texts))
    if intent == "report_account_locked":
        if _has_answer(view, intent) or _says_any_key(view, ("locked_now_locked", "locked_now_frozen")):
            return None
        return Problem("no locked-wallet answer", _quote(view.texts))
    if intent == "out_of_scope":
        keys = [key for key in ref.phrase_keys() if "out_of_scope" in key]
        if any(contains(view.texts, text.strip()[: ref.ANSWER_PREFIX_CHARS]) for text in ref.response_texts("utter_out_of_scope")) or _says_any_key(view, keys):
            return None
        return Problem("no out-of-scope answer", _quote(view.texts))
    known = ref.answer_prefixes(intent) + [t.strip()[: ref.ANSWER_PREFIX_CHARS] for t in ref.response_texts(f"utter_{intent}")]
    if f"small_talk_{intent}" in ref.phrase_keys():
        known.append(say(f"small_talk_{intent}").strip()[: ref.ANSWER_PREFIX_CHARS])
    if not known:
        return Problem("no known answer to compare with")
    return None if any(contains(view.texts, prefix) for prefix in known) else Problem("not answered", _quote(view.texts))


def _has_answer(view: TurnView, intent: str) -> bool:
    return any(contains(view.texts, prefix) for prefix in ref.answer_prefixes(intent))


def _says_any_key(view: TurnView, keys) -> bool:
    for key in keys:
        try:
            if says_phrase(view, key, "contains"):
                return True
        except ref.PhraseMissing:
            continue
    return False


def _wallet_no(customer_id: str) -> str:
    return next(p.wallet_no for p in PEOPLE if p.customer_id == customer_id)


def check_answers(view: TurnView, intents: tuple[str, ...]) -> list[Problem]:
    problems = []
    for intent in intents:
        problem = answers_intent(view, intent)
        if problem is not None:
            problems.append(Problem(f"{intent}: {problem.reason}", problem.detail))
    return problems


# ---------------------------------------------------------------- one turn's expectations

FLAG_CHECKS: dict[str, Callable[[TurnView], list[Problem]]] = {
    "no_summary": check_no_summary,
    "refused": check_refused,
    "ticket_offered": check_ticket_offered,
    "human_offered": check_human_offered,
    "freeze_offered": check_freeze_offered,
    "pin_error": check_pin_error,
    "duplicate_warning": check_duplicate_warning,
}


def check_turn(view: TurnView, expect: Expect) -> list[tuple[str, Problem]]:
    """Every expectation of the turn: (key, problem) for each that failed."""
    checks: list[tuple[str, Callable[[], list[Problem]]]] = []
    if expect.summary:
        checks.append(("summary", lambda: check_summary(view, expect.summary)))
    if expect.asks:
        checks.append((f"asks {expect.asks}", lambda: check_asks(view, expect.asks)))
    if expect.draft:
        checks.append((f"draft {expect.draft}", lambda: check_draft(view, expect.draft)))
    if expect.answers:
        checks.append(("answers", lambda: check_answers(view, expect.answers)))
    if expect.balance is not None:
        checks.append(("balance", lambda: check_balance(view, expect.balance)))
    if expect.says_any:
        checks.append(("says_any", lambda: check_says_any(view, expect.says_any)))
    if expect.says_none:
        checks.append(("says_none", lambda: check_says_none(view, expect.says_none)))
    for name, wanted in expect.flags:
        if name == "queued":
            checks.append(("queued", lambda wanted=wanted: check_queued(view, wanted)))
        else:
            checks.append((name if wanted else f"{name}: false", lambda name=name, wanted=wanted: _flag(view, name, wanted)))
    failed: list[tuple[str, Problem]] = []
    for key, check in checks:
        try:
            failed += [(key, problem) for problem in check()]
        except ref.PhraseMissing as missing:
            failed.append((key, Problem(str(missing))))
    return failed


def _flag(view: TurnView, name: str, wanted: bool) -> list[Problem]:
    problems = FLAG_CHECKS[name](view)
    if wanted:
        return problems
    return [] if problems else [Problem(f"{name} although not expected", _quote(view.texts))]
