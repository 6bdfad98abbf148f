"""The soak's customers and agent: seeded, bounded, and recording what each one saw.

Each soak customer is a thread on one channel (web chat, Telegram webhook, WeChat XML; the clients of
tests/conversations/channels.py, made replayable here). It plays scenarios drawn from its own seeded
random generator until the deadline:

* a transfer: "给周芳转300块" (a saved recipient) or "给13912340005转88.50元" (a new one, so an SMS code
  follows), sometimes corrected ("改成300") or dropped ("算了不转了", or the summary's 取消), else
  confirmed with the button, the PIN and, from ¥5,000 or to a new recipient, the SMS code read from
  the outbox;
* a handoff: "转人工", then waiting for the agent to claim and resolve (leaving the queue after a while);
* a balance question.

Replays: the same Telegram update (same `update_id`), the same WeChat `MsgId`, the same PIN submission
or button press sent again; and every request the gateway never answered because it was killed is
retried the way the platform would (the same update, the same MsgId, the same body).

Every summary the customer was shown is kept client-side (`SummarySeen`: its draft id, the amount in
its text, and what the customer did with it); every request is kept as an `ActionRecord`. The checks
(tests/soak/checks.py) compare them with the ledger.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.conversations.agent import AgentConsole
from tests.conversations.channels import ChannelBroken, Delivery, TelegramChannel, WebChannel, WeChatChannel
from tests.conversations.presses import Target, find_target
from tests.conversations.stack import TELEGRAM_SECRET
from tests.soak.stack import SoakCustomer, SoakStack

TURN_TIMEOUT_S = 30.0  # longer without an answer: unanswered (tests/conversations/channels.py waits as long)
GATEWAY_BACK_S = 90.0  # how long a customer waits for a killed gateway before giving up on a request
HANDOFF_WAIT_S = 45.0  # then the customer leaves the queue
REPLAY_QUIET_S = 1.0  # a replayed update or MsgId must cause nothing within this long
THINK_S = (0.2, 1.0)
SUMMARY_AMOUNT = re.compile(r"金额：¥([\d,]+\.\d{2})")
RECEIPT = re.compile(r"转账成功！已向 .+? 转账 ¥([\d,]+\.\d{2})")
DRAFT_IN_PAYLOAD = re.compile(r'"draft_id"\s*:\s*"([^"]+)"')
HTTP_STATUS = re.compile(r"^HTTP (\d{3}) ")


def fen_of(yuan_text: str) -> int:
    whole, _, cents = yuan_text.replace(",", "").partition(".")
    return int(whole) * 100 + int(cents or 0)


def _now(t0: float) -> float:
    return round(time.monotonic() - t0, 3)


@dataclass
class SummarySeen:
    """A transfer summary as the customer saw it, and what they did with it."""

    draft_id: str
    customer_id: str
    channel: str
    asked_fen: int  # the amount the customer typed
    seen_fen: int | None  # the amount in the summary's text
    recipient: str
    shown_at: float
    fate: str = "shown"  # shown | corrected | cancelled | confirmed | abandoned
    pin_for_draft: str | None = None  # the draft the PIN request named
    pin_sent: bool = False
    otp_sent: bool = False
    receipt_fen: int | None = None  # the amount on the receipt the customer saw


@dataclass
class ActionRecord:
    customer_id: str
    channel: str
    kind: str
    started_at: float
    elapsed_s: float
    answered: bool
    status: int | None = None
    error: str | None = None
    state_after: str = "bot"
    broken: bool = False


@dataclass
class ReplayRecord:
    customer_id: str
    channel: str
    kind: str  # telegram_update | wechat_msgid | web_pin | web_button | retry
    at: float
    processed_again: bool | None = None  # for update_id / MsgId replays: did it cause anything


@dataclass
class Journal:
    """Everything the customers and the agent recorded; shared by the threads."""

    t0: float
    summaries: dict[str, SummarySeen] = field(default_factory=dict)
    actions: list[ActionRecord] = field(default_factory=list)
    replays: list[ReplayRecord] = field(default_factory=list)
    events: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # what a customer noticed at once (e.g. a PIN for another draft)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return _now(self.t0)

    def add(self, what, item) -> None:
        with self.lock:
            what.append(item)

    def count(self, event: str, n: int = 1) -> None:
        with self.lock:
            self.events[event] += n

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


# ---------------------------------------------------------------- replayable channels


class SoakWeb(WebChannel):
    def __init__(self, stack, customer_id) -> None:
        super().__init__(stack, customer_id)
        self.last: tuple[str, dict] | None = None
        self.last_status: int | None = None

    def _post(self, path: str, body: dict) -> Delivery:
        self.last = (path, body)
        return self._send(path, body)

    def _send(self, path: str, body: dict) -> Delivery:
        try:
            response = self.http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise ChannelBroken(f"POST {path}: {type(exc).__name__}: {exc}") from exc
        self.last_status = response.status_code
        if response.status_code == 200:
            return Delivery([m.get("text") or "" for m in response.json().get("messages", [])])
        return Delivery([], error=f"HTTP {response.status_code} on {path}: {response.text[:200]}")

    def resend(self) -> Delivery:
        return self._send(*self.last)


class SoakTelegram(TelegramChannel):
    def __init__(self, stack, customer_id) -> None:
        super().__init__(stack, customer_id)
        self.last: dict | None = None

    def _deliver(self, update: dict) -> Delivery:
        self.last = update
        return super()._deliver(update)

    def resend(self) -> Delivery:
        """The same update again, as Telegram retries one whose webhook call failed."""
        return super()._deliver(self.last)

    def replay_quietly(self) -> bool:
        """Post the last update again (the same update_id); whether the bot answered it a second time."""
        mark = self.fake.mark()
        try:
            self.http.post("/telegram/webhook", json=self.last, headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        except httpx.HTTPError as exc:
            raise ChannelBroken(f"POST /telegram/webhook: {exc}") from exc
        time.sleep(REPLAY_QUIET_S)
        return bool(self.fake.calls_since(mark, method="sendMessage", chat_id=self.user_id))


class _FixedMsgIds:
    """WeChat's platform with the MsgId under control: new ones, or the last one again."""

    def __init__(self, platform, first_msg_id: int) -> None:
        self.platform = platform
        self.next_id = first_msg_id
        self.fixed: int | None = None
        self.last: tuple[str, int] | None = None

    def say(self, openid: str, text: str, **_):
        if self.fixed is None:
            self.next_id += 1
        msg_id = self.fixed or self.next_id
        self.last = (text, msg_id)
        return self.platform.say(openid, text, msg_id=msg_id)


class SoakWeChat(WeChatChannel):
    def __init__(self, stack, customer_id, first_msg_id: int) -> None:
        super().__init__(stack, customer_id)
        self.platform = _FixedMsgIds(stack.wechat, first_msg_id)

    @property
    def last(self) -> tuple[str, int] | None:
        return self.platform.last

    def resend(self) -> Delivery:
        text, msg_id = self.platform.last
        self.platform.fixed = msg_id
        try:
            return self._deliver(text)
        finally:
            self.platform.fixed = None


def _status(channel, delivery: Delivery) -> int | None:
    if isinstance(channel, SoakWeb):
        return channel.last_status
    match = HTTP_STATUS.match(delivery.error or "")
    return int(match[1]) if match else (200 if delivery.error is None else None)


# ---------------------------------------------------------------- a customer


class Customer(threading.Thread):
    def __init__(self, who: SoakCustomer, stack: SoakStack, journal: Journal, seed: int, deadline: float,
                 weights: dict[str, float], replay_p: float, index: int) -> None:
        super().__init__(name=f"soak-{who.customer_id}", daemon=True)
        self.who, self.stack, self.journal = who, stack, journal
        self.world = stack.world
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.weights = weights
        self.replay_p = replay_p
        self.index = index
        self.client = None
        self._conversation_id: str | None = None
        self.crashed: str | None = None

    # -- the thread

    def run(self) -> None:
        try:
            self.client = self._open()
            kinds, weights = zip(*self.weights.items())
            while time.monotonic() < self.deadline:
                scenario = self.rng.choices(kinds, weights)[0]
                getattr(self, f"play_{scenario}")()
                self._settle_state()
                time.sleep(self.rng.uniform(*THINK_S))
        except Exception as exc:  # noqa: BLE001 - a customer that raises is a finding, never a hang
            import traceback

            self.crashed = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            self.journal.problem(f"{self.who.customer_id}: the soak client crashed: {type(exc).__name__}: {exc}")
        finally:
            if self.client is not None:
                self.client.close()

    def _open(self):
        channel = self.who.channel
        for _ in range(5):
            try:
                if channel == "web":
                    client = SoakWeb(self.stack, self.who.customer_id)
                elif channel == "telegram":
                    client = SoakTelegram(self.stack, self.who.customer_id)
                else:
                    client = SoakWeChat(self.stack, self.who.customer_id, int(time.time()) * 10**6 + self.index * 10**5)
                client.open()
                return client
            except ChannelBroken:
                self.stack.wait_gateway(GATEWAY_BACK_S)
        raise RuntimeError(f"{self.who.customer_id} could not bind {channel}")

    def conversation_id(self) -> str | None:
        if self._conversation_id is None:
            external = self.client.external_id()
            if external:
                self._conversation_id = self.world.conversation_id(self.who.channel, external)
        return self._conversation_id

    def state(self) -> str:
        return self.world.handoff_state(self.conversation_id())

    # -- one request, recorded; retried once when the gateway was unreachable

    def act(self, kind: str, send) -> tuple[Delivery | None, list]:
        """Send, record, and return what the channel showed and the messages stored since. A request
        the gateway never answered (killed) is sent again once it is back, as the platform would."""
        journal, who = self.journal, self.who
        stored_mark = self.world.last_message_id()
        started_at, started = journal.now(), time.monotonic()
        try:
            delivery = send()
        except ChannelBroken as exc:
            journal.add(journal.actions, ActionRecord(who.customer_id, who.channel, kind, started_at,
                                                      round(time.monotonic() - started, 3), False, None, str(exc)[:200], broken=True))
            if not self.stack.wait_gateway(GATEWAY_BACK_S):
                return None, []
            journal.add(journal.replays, ReplayRecord(who.customer_id, who.channel, "retry", journal.now()))
            started_at, started = journal.now(), time.monotonic()
            try:
                delivery = self.client.resend()
            except ChannelBroken as again:
                journal.add(journal.actions, ActionRecord(who.customer_id, who.channel, kind, started_at,
                                                          round(time.monotonic() - started, 3), False, None, str(again)[:200], broken=True))
                return None, []
        elapsed = round(time.monotonic() - started, 3)
        state = self.state()
        answered = any(text for text in delivery.seen) and delivery.error is None
        journal.add(journal.actions, ActionRecord(
            who.customer_id, who.channel, kind, started_at, elapsed, answered or state != "bot",
            _status(self.client, delivery), delivery.error, state,
        ))
        return delivery, self.world.messages(self.conversation_id(), stored_mark)

    def say(self, text: str, kind: str = "say"):
        return self.act(kind, lambda: self.client.say(text))

    def press(self, target: Target, kind: str = "press"):
        return self.act(kind, lambda: self.client.press(target))

    def secret(self, kind: str, value: str):
        return self.act(kind, lambda: self.client.secret(kind, value))

    def maybe_replay(self, what: str) -> None:
        """With probability replay_p, send the last request again (only while the bot is talking)."""
        journal, channel = self.journal, self.who.channel
        if self.rng.random() >= self.replay_p or getattr(self.client, "last", None) is None:
            return
        if channel == "web" and what == "say":
            return  # a web message sent twice is two messages: web chat has no message id to replay
        try:
            if channel == "telegram":
                again = self.client.replay_quietly()
                journal.add(journal.replays, ReplayRecord(self.who.customer_id, channel, "telegram_update", journal.now(), again))
            elif channel == "wechat":
                before = len(self.world.messages(self.conversation_id()))
                delivery = self.client.resend()
                time.sleep(REPLAY_QUIET_S)
                stored_again = len(self.world.messages(self.conversation_id())) > before
                journal.add(journal.replays, ReplayRecord(self.who.customer_id, channel, "wechat_msgid", journal.now(),
                                                          stored_again or bool([t for t in delivery.seen if t])))
            else:
                delivery = self.client.resend()
                journal.add(journal.replays, ReplayRecord(self.who.customer_id, channel, f"web_{what}", journal.now()))
                journal.add(journal.actions, ActionRecord(self.who.customer_id, channel, f"replay_{what}", journal.now(), 0.0,
                                                          True, self.client.last_status, None))
        except ChannelBroken:
            journal.count("replay_broken")

    # -- scenarios

    def play_balance(self) -> None:
        self.say(self.rng.choice(("我的余额还有多少", "查一下我的余额", "钱包里还剩多少钱")))

    def play_handoff(self) -> None:
        self.journal.count("handoffs_asked")
        delivery, _ = self.say(self.rng.choice(("转人工", "我要找人工客服", "帮我接人工")))
        if delivery is None:
            return
        if self.state() in ("queued", "assigned"):
            self.journal.count("handoffs_queued")
            if self._wait_for_bot(HANDOFF_WAIT_S):
                self.journal.count("handoffs_back_to_bot")

    def _wait_for_bot(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.state() == "bot":
                return True
            time.sleep(0.5)
        return False

    def _settle_state(self) -> None:
        """Queued without asking (Rasa was down): wait for the agent, else leave the queue."""
        state = self.state()
        if state == "bot":
            return
        self.journal.count(f"found_{state}")
        if self._wait_for_bot(HANDOFF_WAIT_S):
            return
        if self.state() == "queued":
            self.journal.count("left_queue")
            self.say("不等了", kind="leave_queue")
            self._wait_for_bot(10.0)

    def _amount(self) -> tuple[str, int]:
        roll = self.rng.random()
        if roll < 0.15:
            yuan = self.rng.randint(5000, 8000)  # an SMS code follows
            return f"{yuan}元", yuan * 100
        if roll < 0.4:
            fen = self.rng.randint(100, 99_999)
            return f"{fen // 100}.{fen % 100:02d}元", fen
        yuan = self.rng.randint(1, 999)
        return f"{yuan}{self.rng.choice(('块', '元'))}", yuan * 100

    def _summary(self, delivery: Delivery | None, stored: list, asked_fen: int, recipient: str) -> SummarySeen | None:
        if delivery is None:
            return None
        target = find_target(stored, "confirm")
        if target is None:
            return None
        draft_id = _draft_of(target)
        amounts = [fen_of(m[1]) for text in delivery.seen if text for m in SUMMARY_AMOUNT.finditer(text)]
        if draft_id is None:
            self.journal.problem(f"{self.who.customer_id}: a confirm button without a draft id: {target.button}")
            return None
        summary = SummarySeen(draft_id, self.who.customer_id, self.who.channel, asked_fen, amounts[-1] if amounts else None,
                              recipient, self.journal.now())
        with self.journal.lock:
            self.journal.summaries[summary.draft_id] = summary
        if summary.seen_fen is None:
            self.journal.count("summary_amount_not_shown")
        return summary

    def play_transfer(self) -> None:
        who, rng, journal = self.who, self.rng, self.journal
        new_recipient = rng.random() < 0.2
        recipient = rng.choice(who.new_phones if new_recipient else who.saved)
        amount_text, asked_fen = self._amount()
        template = rng.choice(("给{r}转{a}", "转{a}给{r}", "帮我给{r}转{a}"))
        delivery, stored = self.say(template.format(r=recipient, a=amount_text), kind="transfer")
        summary = self._summary(delivery, stored, asked_fen, recipient)
        journal.count("transfers_asked")
        if summary is None:
            journal.count("transfers_without_summary")
            return
        self.maybe_replay("say")
        # corrections
        while rng.random() < 0.2:
            yuan = rng.randint(1, 999)
            delivery, stored = self.say(rng.choice(("改成{n}", "不对，是{n}块", "还是{n}吧")).format(n=yuan), kind="correction")
            newer = self._summary(delivery, stored, yuan * 100, recipient)
            if newer is None or newer.draft_id == summary.draft_id:
                journal.count("corrections_without_summary")
                summary.fate = "abandoned"
                return
            summary.fate = "corrected"
            journal.count("corrections")
            summary = newer
        # cancellation
        if rng.random() < 0.12:
            if rng.random() < 0.5:
                self.say(rng.choice(("算了不转了", "不转了，取消吧")), kind="cancel")
            else:
                target = find_target(self.world.messages(self.conversation_id()), "cancel")
                if target is not None:
                    self.press(target, kind="cancel_button")
            summary.fate = "cancelled"
            journal.count("cancellations")
            return
        # confirmation: the button, the PIN, maybe the SMS code
        target = find_target(self.world.messages(self.conversation_id()), "confirm")
        if target is None or _draft_of(target) != summary.draft_id:
            summary.fate = "abandoned"
            journal.count("confirm_button_gone")
            return
        delivery, stored = self.press(target, kind="confirm")
        request = _pin_request(stored, "pin")
        if request is None:
            summary.fate = "abandoned"
            journal.count("confirm_without_pin_request")
            return
        summary.pin_for_draft = request.get("draft_id")
        if summary.pin_for_draft != summary.draft_id:
            journal.problem(f"{who.customer_id}: the PIN was asked for draft {summary.pin_for_draft}, "
                            f"the summary pressed was {summary.draft_id}")
            summary.fate = "abandoned"
            return
        self.maybe_replay("button")
        summary.fate = "confirmed"
        summary.pin_sent = True
        delivery, stored = self.secret("pin", who.pin)
        self._receipt(summary, delivery)
        self.maybe_replay("pin")
        if _pin_request(stored, "otp") is not None:
            code = self.world.latest_otp(who.customer_id)
            if code is None:
                journal.problem(f"{who.customer_id}: an SMS code was asked for and none is in the outbox")
                return
            summary.otp_sent = True
            delivery, stored = self.secret("otp", code)
            self._receipt(summary, delivery)
            self.maybe_replay("pin")
        journal.count("transfers_confirmed")

    def _receipt(self, summary: SummarySeen, delivery: Delivery | None) -> None:
        if delivery is None:
            return
        for text in delivery.seen:
            match = RECEIPT.search(text or "")
            if match:
                summary.receipt_fen = fen_of(match[1])


def _draft_of(target: Target) -> str | None:
    match = DRAFT_IN_PAYLOAD.search(str(target.button.get("payload", "")))
    return match[1] if match else None


def _pin_request(stored: list, kind: str) -> dict | None:
    for message in reversed(stored):
        custom = message.custom or {}
        if custom.get("type") == "pin_request" and custom.get("kind") == kind:
            return custom
    return None


# ---------------------------------------------------------------- the agent


class Agent(threading.Thread):
    """agent1 at the console: signs in (login + CSRF), claims each waiting conversation, answers and
    resolves it; takes planned breaks offline; signs in again after a gateway restart if need be."""

    def __init__(self, stack: SoakStack, journal: Journal, deadline: float, breaks: list[tuple[float, float]]) -> None:
        super().__init__(name="soak-agent", daemon=True)
        self.stack, self.journal, self.deadline, self.breaks = stack, journal, deadline, breaks
        self.console = AgentConsole(stack.gateway_url)
        self.halt = threading.Event()
        self.crashed: str | None = None

    def run(self) -> None:
        try:
            self._sign_in()
            while not self.halt.is_set() and time.monotonic() < self.deadline:
                if self._on_break():
                    continue
                try:
                    self._serve_once()
                except ChannelBroken:
                    self.journal.count("agent_gateway_unreachable")
                    self.stack.wait_gateway(GATEWAY_BACK_S)
                self.halt.wait(1.0)
        except Exception as exc:  # noqa: BLE001
            import traceback

            self.crashed = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            self.journal.problem(f"the soak agent crashed: {type(exc).__name__}: {exc}")

    def _sign_in(self) -> None:
        for _ in range(10):
            try:
                self.console.go_online()
                self.journal.count("agent_sign_ins")
                return
            except ChannelBroken:
                self.journal.count("agent_sign_in_retries")
                self.stack.wait_gateway(GATEWAY_BACK_S)
                time.sleep(1.0)
        raise RuntimeError("agent1 could not sign in")

    def _on_break(self) -> bool:
        now = time.monotonic()
        for start, end in self.breaks:
            if start <= now < end:
                self.journal.count("agent_breaks")
                try:
                    self.console._post("/api/agent/status", {"status": "offline"})
                except ChannelBroken:
                    pass
                self.halt.wait(end - now)
                self._sign_in()
                self.breaks.remove((start, end))
                return True
        return False

    def _queue(self) -> dict:
        try:
            response = self.console.http.get("/api/agent/queue")
        except httpx.HTTPError as exc:
            raise ChannelBroken(str(exc)) from exc
        if response.status_code == 401:
            self._sign_in()
            return {"waiting": [], "assigned": []}
        response.raise_for_status()
        return response.json()

    def _serve_once(self) -> None:
        queue = self._queue()
        for item in queue.get("assigned", []):
            if item.get("mine"):
                self._resolve(item["conversation_id"])
        for item in queue.get("waiting", [])[:3]:
            conversation_id = item["conversation_id"]
            error = self.console.claim(conversation_id)
            if error:
                self.journal.count("agent_claim_refused")
                continue
            self.journal.count("agent_claims")
            self.console.say(conversation_id, "您好，我是客服小王，您的问题已经记录，我们马上为您处理。")
            time.sleep(0.5)
            self._resolve(conversation_id)

    def _resolve(self, conversation_id: str) -> None:
        error = self.console.resolve(conversation_id)
        self.journal.count("agent_resolve_refused" if error else "agent_resolves")

    def close(self) -> None:
        self.console.close()
