"""The conversation corpus (FORMAT.md): loading, validation, and the case as plain dataclasses.

`load_corpus(paths)` reads every `*.yml` file (one YAML list of cases each) and checks each case
against FORMAT.md: unknown keys, missing keys and bad values become `Problem`s naming the file and
the case id; a file that is not valid YAML is one problem. `CorpusError` carries them all when a
caller wants to stop on the first bad corpus (`load_corpus(..., strict=True)`).

YAML is read with YAML 1.2's booleans (only true/false), so a customer who says `yes` or `no` or
`on` says text, not a boolean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from bot.wallet.demo import PEOPLE, SAVED_RECIPIENTS

CUSTOMERS = ("demo-zhangsan", "demo-lisi", "demo-wangwu", "visitor")
CHANNELS = ("any", "web", "telegram", "wechat")
ROTATION = ("web", "telegram", "wechat")
UNPRESSABLE_ON = {"old_confirm": ("wechat",)}  # presses a channel's customer cannot make (see `channel_of`)


def presses(case: "Case", press: str) -> bool:
    return any(turn.action == "press" and turn.value == press for turn in case.turns)
AGENTS = ("online", "none")
POINTS = range(1, 15)
PRESSES = ("confirm", "cancel", "old_confirm", "human", "leave_queue", "freeze", "ticket_yes")
ASKS = ("amount", "recipient", "which_amount", "pin", "otp", "login")
DRAFT_EXPECTATIONS = ("cancelled", "expired_notice")
QUEUE_FINALS = ("queued", "none")
WALLET_FINALS = ("active", "frozen", "locked")
WAIT_S_MAX = 900
# The intent table of the public contract (ARCHITECTURE.md §4).
INTENTS = frozenset({
    "greet", "goodbye", "thank", "affirm", "deny", "cancel", "inform", "bot_challenge", "out_of_scope",
    "ask_wallet_intro", "ask_open_wallet", "ask_realname_verification", "ask_bind_card", "ask_payment_password",
    "ask_fees", "ask_security", "ask_promotions", "ask_topup_withdraw", "report_payment_failed",
    "report_account_locked", "report_fraud", "complain", "check_balance", "check_transactions",
    "transfer_money", "request_human",
})
ACTIONS = ("say", "press", "pin", "otp", "wait", "agent_claim", "agent_say", "agent_resolve")
CASE_KEYS = frozenset({"id", "point", "customer", "channel", "agents", "note", "turns", "final"})
FLAG_EXPECTATIONS = ("no_summary", "refused", "queued", "ticket_offered", "human_offered", "freeze_offered",
                     "pin_error", "duplicate_warning")
EXPECT_KEYS = frozenset({"summary", "asks", "draft", "answers", "balance", "says_any", "says_none", *FLAG_EXPECTATIONS})
FINAL_KEYS = frozenset({"ledger", "queue", "ticket", "wallet", "drafts_pending", "secret_stored"})
AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$")
SIGNED_AMOUNT = re.compile(r"^[+-]?\d+(\.\d{1,2})?$")


class CorpusError(Exception):
    """The corpus has problems; `problems` lists each (file, case id, what is wrong)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    source: str
    case_id: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.source}: case {self.case_id or '?'}: {self.message}"


@dataclass(frozen=True)
class Summary:
    amount: Decimal
    recipient: str


@dataclass(frozen=True)
class Expect:
    summary: Summary | None = None
    asks: str | None = None
    draft: str | None = None
    answers: tuple[str, ...] = ()
    balance: Decimal | None = None
    says_any: tuple[str, ...] = ()
    says_none: tuple[str, ...] = ()
    flags: tuple[tuple[str, bool], ...] = ()  # (name, expected) for the true/false expectations, in order

    def keys(self) -> list[str]:
        present = [name for name in ("summary", "asks", "draft", "answers", "balance", "says_any", "says_none") if getattr(self, name)]
        return present + [name for name, _ in self.flags]


@dataclass(frozen=True)
class Turn:
    number: int  # 1-based, as a reader counts them
    action: str  # one of ACTIONS
    value: object  # text, press name, secret, seconds or True
    expect: Expect = field(default_factory=Expect)

    def describe(self) -> str:
        return f"{self.action}: {self.value}" if self.value is not True else self.action


@dataclass(frozen=True)
class Final:
    ledger: dict[str, Decimal] | None = None
    queue: str | None = None
    ticket: bool | None = None
    wallet: str | None = None
    drafts_pending: int | None = None
    secret_stored: bool | None = None


@dataclass(frozen=True)
class Case:
    id: str
    point: int
    customer: str
    channel: str  # as written: any | web | telegram | wechat
    agents: str
    note: str
    turns: tuple[Turn, ...]
    final: Final
    source: str

    @property
    def visitor(self) -> bool:
        return self.customer == "visitor"


# ---------------------------------------------------------------- YAML with YAML 1.2 booleans


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


# ---------------------------------------------------------------- names the customer may use


def recipient_names(customer_id: str) -> dict[str, str]:
    """Every way this customer may name a person (alias, real name, phone, wallet number) → customer id."""
    by_key = {person.key: person for person in PEOPLE}
    names: dict[str, str] = {}
    for person in PEOPLE:
        for name in (person.name, person.phone, person.wallet_no):
            names[name] = person.customer_id
    owner = next((p.key for p in PEOPLE if p.customer_id == customer_id), None)
    for saver, recipient, alias in SAVED_RECIPIENTS:
        if saver == owner:
            names[alias] = by_key[recipient].customer_id
    return names


# ---------------------------------------------------------------- validation


class _Invalid(Exception):
    pass


def _text(value: object, what: str) -> str:
    if isinstance(value, bool) or value is None:
        raise _Invalid(f"{what} must be text, got {value!r} (quote it)")
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"{what} must be non-empty text, got {value!r}")
    return value


def _texts(value: object, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _Invalid(f"{what} must list at least one phrase")
    return tuple(_text(item, what) for item in items)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{what} must be true or false, got {value!r}")
    return value


def _choice(value: object, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise _Invalid(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _amount(value: object, what: str, pattern: re.Pattern = AMOUNT) -> Decimal:
    text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    if not pattern.match(text):
        raise _Invalid(f"{what} must be an amount in yuan like \"1050.00\", got {value!r}")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise _Invalid(f"{what}: {value!r} is not a number") from exc


def _secret(value: object, what: str, *, latest_ok: bool) -> str:
    if latest_ok and value == "latest":
        return "latest"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 100_000:
        return str(value)  # unquoted six digits: no leading zero was lost
    if not isinstance(value, str) or not value:
        raise _Invalid(f"{what} must be a quoted string like \"246810\", got {value!r}")
    return value


def _only(mapping: object, allowed: frozenset[str], what: str) -> dict:
    if not isinstance(mapping, dict):
        raise _Invalid(f"{what} must be a mapping, got {type(mapping).__name__}")
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        raise _Invalid(f"unknown key(s) in {what}: {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    return mapping


def _expect(raw: object, customer: str, where: str) -> Expect:
    raw = _only(raw if raw is not None else {}, EXPECT_KEYS, f"{where} expect")
    summary = None
    if "summary" in raw:
        body = _only(raw["summary"], frozenset({"amount", "recipient"}), f"{where} summary")
        if set(body) != {"amount", "recipient"}:
            raise _Invalid(f"{where} summary needs both amount and recipient")
        if customer == "visitor":
            raise _Invalid(f"{where} summary: a visitor cannot have a transfer summary")
        recipient = _text(body["recipient"], f"{where} summary recipient").strip()
        if recipient not in recipient_names(customer):
            raise _Invalid(f"{where} summary recipient {recipient!r} is nobody in {customer}'s demo world")
        summary = Summary(_amount(body["amount"], f"{where} summary amount"), recipient)
    answers = _texts(raw["answers"], f"{where} answers") if "answers" in raw else ()
    unknown = sorted(set(answers) - INTENTS)
    if unknown:
        raise _Invalid(f"{where} answers names intents outside the contract: {', '.join(unknown)}")
    return Expect(
        summary=summary,
        asks=_choice(raw["asks"], ASKS, f"{where} asks") if "asks" in raw else None,
        draft=_choice(raw["draft"], DRAFT_EXPECTATIONS, f"{where} draft") if "draft" in raw else None,
        answers=answers,
        balance=_amount(raw["balance"], f"{where} balance") if "balance" in raw else None,
        says_any=_texts(raw["says_any"], f"{where} says_any") if "says_any" in raw else (),
        says_none=_texts(raw["says_none"], f"{where} says_none") if "says_none" in raw else (),
        flags=tuple((name, _flag(raw[name], f"{where} {name}")) for name in FLAG_EXPECTATIONS if name in raw),
    )


def _turn(raw: object, number: int, customer: str) -> Turn:
    where = f"turn {number}"
    raw = _only(raw, frozenset({*ACTIONS, "expect"}), where)
    actions = [key for key in ACTIONS if key in raw]
    if len(actions) != 1:
        raise _Invalid(f"{where} must have exactly one of {', '.join(ACTIONS)}, has {actions or 'none'}")
    action, value = actions[0], raw[actions[0]]
    if action in ("say", "agent_say"):
        value = _text(value, f"{where} {action}")
    elif action == "press":
        value = _choice(value, PRESSES, f"{where} press")
    elif action in ("pin", "otp"):
        value = _secret(value, f"{where} {action}", latest_ok=action == "otp")
    elif action == "wait":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= WAIT_S_MAX:
            raise _Invalid(f"{where} wait must be seconds between 0 and {WAIT_S_MAX}, got {value!r}")
    elif value is not True:
        raise _Invalid(f"{where} {action} must be true, got {value!r}")
    return Turn(number, action, value, _expect(raw.get("expect"), customer, where))


def _final(raw: object, customer: str) -> Final:
    raw = _only(raw if raw is not None else {}, FINAL_KEYS, "final")
    ledger = None
    if "ledger" in raw:
        body = raw["ledger"] if raw["ledger"] is not None else {}
        if not isinstance(body, dict):
            raise _Invalid("final ledger must map demo customers to amounts")
        known = {person.customer_id for person in PEOPLE}
        for who in body:
            if who not in known:
                raise _Invalid(f"final ledger names {who!r}, not a demo customer ({', '.join(sorted(known))})")
        ledger = {str(who): _amount(delta, f"final ledger {who}", SIGNED_AMOUNT) for who, delta in body.items()}
    drafts_pending = raw.get("drafts_pending")
    if drafts_pending is not None and (isinstance(drafts_pending, bool) or not isinstance(drafts_pending, int) or drafts_pending < 0):
        raise _Invalid(f"final drafts_pending must be a count, got {drafts_pending!r}")
    secret_stored = _flag(raw["secret_stored"], "final secret_stored") if "secret_stored" in raw else None
    if secret_stored:
        raise _Invalid("final secret_stored can only be false")
    if customer == "visitor" and ("wallet" in raw or "drafts_pending" in raw):
        raise _Invalid("final wallet / drafts_pending need a signed-in customer, not a visitor")
    return Final(
        ledger=ledger,
        queue=_choice(raw["queue"], QUEUE_FINALS, "final queue") if "queue" in raw else None,
        ticket=_flag(raw["ticket"], "final ticket") if "ticket" in raw else None,
        wallet=_choice(raw["wallet"], WALLET_FINALS, "final wallet") if "wallet" in raw else None,
        drafts_pending=drafts_pending,
        secret_stored=secret_stored,
    )


def parse_case(raw: object, source: str) -> Case:
    """One case from its YAML mapping; raises `_Invalid` with what is wrong."""
    raw = _only(raw, CASE_KEYS, "the case")
    missing = [key for key in ("id", "point", "customer", "turns") if key not in raw]
    if missing:
        raise _Invalid(f"missing key(s): {', '.join(missing)}")
    point = raw["point"]
    if isinstance(point, bool) or not isinstance(point, int) or point not in POINTS:
        raise _Invalid(f"point must be a number from 1 to 14, got {point!r}")
    customer = _choice(raw["customer"], CUSTOMERS, "customer")
    turns = raw["turns"]
    if not isinstance(turns, list) or not turns:
        raise _Invalid("turns must be a non-empty list")
    return Case(
        id=str(raw["id"]),
        point=point,
        customer=customer,
        channel=_choice(raw.get("channel", "any"), CHANNELS, "channel"),
        agents=_choice(raw.get("agents", "online"), AGENTS, "agents"),
        note=str(raw.get("note") or ""),
        turns=tuple(_turn(turn, number, customer) for number, turn in enumerate(turns, start=1)),
        final=_final(raw.get("final"), customer),
        source=source,
    )


@dataclass
class Corpus:
    cases: list[Case]  # sorted by id
    problems: list[Problem]

    def __post_init__(self) -> None:
        self.cases.sort(key=lambda case: case.id)
        self._order = {case.id: index for index, case in enumerate(self.cases)}

    def channel_of(self, case: Case) -> str:
        """The channel a case is played on: `any` rotates web / telegram / wechat by its place in the
        whole corpus sorted by id (so filtering a run never moves a case to another channel).

        A case that presses an *earlier* summary's button (`old_confirm`) is never given to WeChat: a
        WeChat customer answers with a number, and a number names an option of the messages shown last,
        so an older summary's button is not something a WeChat customer can press; it goes to the
        next channel in the rotation instead."""
        if case.channel != "any":
            return case.channel
        start = self._order[case.id] % len(ROTATION)
        for step in range(len(ROTATION)):
            channel = ROTATION[(start + step) % len(ROTATION)]
            if channel not in UNPRESSABLE_ON.get("old_confirm", ()) or not presses(case, "old_confirm"):
                return channel
        return ROTATION[start]


def corpus_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yml")) + sorted(directory.glob("*.yaml"))


def load_corpus(paths: list[Path], *, strict: bool = False) -> Corpus:
    """Every case of these files (a directory means its *.yml files), validated; bad cases become
    problems (raised together as `CorpusError` when `strict`)."""
    files: list[Path] = []
    for path in paths:
        files += corpus_files(path) if path.is_dir() else [path]
    cases: list[Case] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in files:
        source = path.name
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
        except (OSError, yaml.YAMLError) as exc:
            problems.append(Problem(source, None, f"not readable YAML: {exc}"))
            continue
        if document is None:
            continue
        if not isinstance(document, list):
            problems.append(Problem(source, None, "a corpus file must be a YAML list of cases"))
            continue
        for index, raw in enumerate(document, start=1):
            case_id = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") is not None else f"#{index}"
            try:
                case = parse_case(raw, source)
            except _Invalid as exc:
                problems.append(Problem(source, case_id, str(exc)))
                continue
            if case.id in seen:
                problems.append(Problem(source, case.id, f"duplicate id (also in {seen[case.id]})"))
                continue
            seen[case.id] = source
            cases.append(case)
    if strict and problems:
        raise CorpusError(problems)
    return Corpus(cases, problems)
