"""Plays one case against the running stack and says how it went.

`CaseRunner.run(case, channel)` restores the demo world, opens the customer's channel (binding a
Telegram or WeChat account first), puts the agent on duty unless `agents: none`, plays the turns,
checks each turn's expectations and the case's `final:`, and returns a `CaseResult`: every failed
expectation with the turn it belongs to, and the transcript. Nothing a case does stops the run: an
HTTP refusal fails its turn, an unreachable gateway or an exception fails the case.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field

from bot.wallet.demo import PEOPLE
from tests.conversations.agent import AgentConsole
from tests.conversations.channels import ChannelBroken, Delivery, open_channel
from tests.conversations.corpus import Case, Turn, recipient_names
from tests.conversations.expectations import Problem, TurnView, check_turn
from tests.conversations.finals import CaseView, check_final
from tests.conversations.presses import find_target
from tests.conversations.stack import CorpusStack


@dataclass(frozen=True)
class Failure:
    turn: int | None  # None: the case as a whole (final, or the run itself)
    key: str
    reason: str
    detail: str = ""
    money: bool = False

    def __str__(self) -> str:
        where = f"turn {self.turn}" if self.turn else "final" if self.key not in ("run", "error") else "case"
        return f"{where} {self.key}: {self.reason}" + (f" — {self.detail}" if self.detail else "")


@dataclass
class TurnRecord:
    number: int
    customer: str  # what the customer did, as a line of the transcript
    replies: list[dict]  # stored replies: sender, text, buttons, custom type
    seen: list[str]  # what the channel showed
    error: str | None
    elapsed_s: float


@dataclass
class CaseResult:
    id: str
    point: int
    channel: str
    customer: str
    source: str
    failures: list[Failure] = field(default_factory=list)
    transcript: list[TurnRecord] = field(default_factory=list)
    reset_s: float = 0.0
    elapsed_s: float = 0.0
    trace: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def money_mismatch(self) -> bool:
        return any(f.money for f in self.failures)

    def to_json(self) -> dict:
        body = asdict(self)
        body.update(passed=self.passed, money_mismatch=self.money_mismatch, failures=[{**asdict(f), "text": str(f)} for f in self.failures])
        return body


def _reply_record(message) -> dict:
    record: dict = {"sender": message.sender, "text": message.text}
    if message.buttons:
        record["buttons"] = [f"{b.get('title')} [{b.get('payload')}]" for b in message.buttons]
    if message.custom:
        record["custom"] = {k: v for k, v in message.custom.items() if k in ("type", "kind", "reason")}
    return record


class CaseRunner:
    def __init__(self, stack: CorpusStack) -> None:
        self.stack = stack
        self.world = stack.world

    def run(self, case: Case, channel: str) -> CaseResult:
        result = CaseResult(case.id, case.point, channel, case.customer, case.source)
        started = time.monotonic()
        result.reset_s = self.stack.reset.reset()
        play = _Play(self, case, channel, result)
        try:
            play.run()
        except ChannelBroken as exc:
            result.failures.append(Failure(None, "run", "gateway unreachable or refused setup", str(exc)))
        except Exception as exc:  # a case that raises is a failed case, never a stopped run
            result.failures.append(Failure(None, "error", type(exc).__name__, str(exc)[:500]))
            result.trace = traceback.format_exc()
        finally:
            play.close()
        result.elapsed_s = time.monotonic() - started
        return result


class _Play:
    """One case being played: the customer's channel, the agent, and what the customer entered."""

    def __init__(self, runner: CaseRunner, case: Case, channel: str, result: CaseResult) -> None:
        self.stack, self.world = runner.stack, runner.world
        self.case, self.channel_name, self.result = case, channel, result
        self.customer_id = None if case.visitor else case.customer
        self.client = None
        self.agent: AgentConsole | None = None
        self.secrets: list[str] = []
        self._conversation_id: str | None = None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.agent is not None:
            self.agent.close()

    def conversation_id(self) -> str | None:
        if self._conversation_id is None and self.client is not None:
            external_id = self.client.external_id()
            if external_id:
                self._conversation_id = self.world.conversation_id(self.channel_name, external_id)
        return self._conversation_id

    def run(self) -> None:
        case = self.case
        self.agent = AgentConsole(self.stack.gateway_url)
        if case.agents == "online":
            self.agent.go_online()
        self.client = open_channel(self.channel_name, self.stack, self.customer_id)
        log_offset = self.stack.gateway_log.stat().st_size if self.stack.gateway_log.exists() else 0
        ledger_start = self.world.ledger()
        for turn in case.turns:
            self.play_turn(turn)
        if self.customer_id and case.customer in _own_pins():
            pin = _own_pins()[case.customer]
            if any(turn.action == "say" and pin in str(turn.value) for turn in case.turns):
                self.secrets.append(pin)  # typed into the chat by mistake: it must not be kept either
        view = CaseView(
            self.customer_id, self.conversation_id(), ledger_start, self.world.ledger(),
            self.world.messages(self.conversation_id()), _read_from(self.stack.gateway_log, log_offset), self.secrets,
            {recipient_names(case.customer)[t.expect.summary.recipient] for t in case.turns if t.expect.summary},
        )
        for key, problem in check_final(view, case.final, self.world):
            self.result.failures.append(_failure(None, key, problem))

    def play_turn(self, turn: Turn) -> None:
        world = self.world
        stored_mark, push_mark = world.last_message_id(), self.client.mark()
        drafts_before, ledger_before = world.drafts(self.customer_id), world.ledger()
        started = time.monotonic()
        delivery = self.act(turn, push_mark)
        elapsed_s = time.monotonic() - started
        messages = world.messages(self.conversation_id(), stored_mark)
        view = TurnView(
            self.customer_id, messages, delivery.seen, drafts_before, world.drafts(self.customer_id),
            ledger_before, world.ledger(), world.handoff_state(self.conversation_id()), world.wallet_of,
        )
        if delivery.error:
            self.result.failures.append(Failure(turn.number, turn.action, "no proper answer", delivery.error))
        for key, problem in check_turn(view, turn.expect):
            self.result.failures.append(_failure(turn.number, key, problem))
        self.result.transcript.append(TurnRecord(
            turn.number, self.describe(turn), [_reply_record(m) for m in view.replies],
            _unstored(delivery.seen, view.replies), delivery.error, round(elapsed_s, 2),
        ))

    def describe(self, turn: Turn) -> str:
        if turn.action in ("pin", "otp"):
            return f"{turn.action}: ******"
        return turn.describe()

    def act(self, turn: Turn, push_mark: int) -> Delivery:
        action, value = turn.action, turn.value
        if action == "say":
            return self.client.say(str(value))
        if action == "press":
            target = find_target(self.world.messages(self.conversation_id()), str(value))
            if target is None:
                return Delivery(error=f"no {value} button to press: the bot never offered one")
            return self.client.press(target)
        if action in ("pin", "otp"):
            secret = str(value)
            if secret == "latest":
                secret = self.world.latest_otp(self.customer_id) if self.customer_id else None
                if secret is None:
                    return Delivery(error="no SMS code was sent to the customer")
            self.secrets.append(secret)
            return self.client.secret(action, secret)
        if action == "wait":
            time.sleep(float(value))
            return Delivery(self.client.pushed_since(push_mark))
        return self.act_as_agent(action, str(value), push_mark)

    def act_as_agent(self, action: str, text: str, push_mark: int) -> Delivery:
        conversation_id = self.conversation_id()
        if conversation_id is None:
            return Delivery(error=f"{action}: the customer has no conversation yet")
        if action == "agent_claim":
            error = self.agent.claim(conversation_id)
        elif action == "agent_say":
            error = self.agent.say(conversation_id, text)
        else:
            error = self.agent.resolve(conversation_id)
        return Delivery(self.client.pushed_since(push_mark), error)


def _unstored(seen: list[str], replies) -> list[str]:
    """What the channel showed beyond the stored replies (hints, numbered options, refusals)."""
    extra = []
    for text in seen:
        for reply in replies:
            if reply.text:
                text = text.replace(reply.text, "")
        if text.strip():
            extra.append(text.strip())
    return extra


def _failure(turn: int | None, key: str, problem: Problem) -> Failure:
    return Failure(turn, key, problem.reason, problem.detail, problem.money)


def _own_pins() -> dict[str, str]:
    return {person.customer_id: person.pin for person in PEOPLE if person.pin}


def _read_from(path, offset: int) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except OSError:
        return ""
