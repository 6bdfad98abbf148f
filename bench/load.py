"""The load generator: N simulated customers, each an asyncio task, against the gateway or Rasa alone.

A customer picks a task, plays its steps with think times between them, thinks, and picks again:

    task       share  steps (the name each latency is reported under)
    faq         60 %  faq                          a question variant from knowledge/faq.yml, as a visitor
    account     25 %  balance | history            as their own signed-in bench customer
    transfer    10 %  transfer_request → transfer_confirm (the 确认转账 button) → transfer_pin
    handoff      5 %  handoff                      “转人工”, from a new visitor each time

Two targets play the same steps. `GatewayTarget` uses the public API (`POST /api/chat/messages`,
the button click, `POST /api/chat/pin`). `RasaTarget` is the baseline: the gateway's signed Rasa channel with the
same texts, signed bodies and per-message identities the gateway would send; the button becomes its payload, and the
PIN step becomes what Rasa must do for it, the tracker events the gateway appends after a transfer.
Both keep conversations equally short: the baseline starts a new Rasa session after as many turns as
the gateway's SessionKeeper does (WALLETBOT_RASA_SESSION_TURNS_MAX), the same way.

Every answer is checked (an FAQ gets a reply, a balance shows ¥, a transfer asks for the PIN and ends
in 转账成功); a failed check, a transport error or a non-200 answer counts as an error for the step
and ends the task.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from bot.channel_auth import CHANNEL_PATH, SIGNATURE_HEADER, channel_key, sign_body
from bot.gateway.sessions import task_running
from bot.identity import METADATA_KEY, issue_app_token, sign_identity
from bot.phrases import say
from bot.settings import ROOT

from bench.stack import BenchCustomer

MESSAGES_FILE = Path(__file__).resolve().parent / "messages.yml"
FAQ_FILE = ROOT / "knowledge" / "faq.yml"
NOT_FAQ_INTENTS = {"request_human", "complain", "report_fraud"}  # handoffs, not questions
TASK_WEIGHTS = {"faq": 60, "account": 25, "transfer": 10, "handoff": 5}
STEPS = ("faq", "balance", "history", "transfer_request", "transfer_confirm", "transfer_pin", "handoff")
TRANSFER_YUAN_MAX = 20
REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Texts:
    faq: tuple[str, ...]
    balance: tuple[str, ...]
    history: tuple[str, ...]
    transfer: tuple[str, ...]
    handoff: tuple[str, ...]


def load_texts() -> Texts:
    faq = yaml.safe_load(FAQ_FILE.read_text(encoding="utf-8"))
    questions = tuple(q for entry in faq["entries"] if entry["intent"] not in NOT_FAQ_INTENTS for q in entry["questions"])
    own = yaml.safe_load(MESSAGES_FILE.read_text(encoding="utf-8"))
    return Texts(questions, *(tuple(own[key]) for key in ("balance", "history", "transfer", "handoff")))


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[str, ...] = ()
    custom: dict | None = None
    sender: str = "bot"


class StepFailed(Exception):
    """A step's answer was an error or not what the customer should see."""


# ------------------------------------------------------------------------------------------ drivers


class GatewayConversation:
    """One conversation through the gateway's public API (a visitor cookie or a customer's token)."""

    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.last: list[dict] = []

    async def _post(self, path: str, body: dict) -> list[Reply]:
        response = await self.http.post(path, json=body, headers=self.headers)
        if response.status_code != 200:
            raise StepFailed(f"HTTP {response.status_code}")
        cookie = response.cookies.get("wb_visitor")
        if cookie and "Cookie" not in self.headers and "Authorization" not in self.headers:
            self.headers["Cookie"] = f"wb_visitor={cookie}"
        self.last = response.json()["messages"]
        if any(m["sender"] == "system" and m["text"] == say("rasa_unavailable") for m in self.last):
            raise StepFailed("gateway: rasa_unavailable")
        return [
            Reply(m["text"], tuple(b["title"] for b in m.get("buttons") or []), m.get("custom"), m["sender"])
            for m in self.last
        ]

    async def say(self, text: str) -> list[Reply]:
        return await self._post("/api/chat/messages", {"text": text})

    async def click(self, title: str) -> list[Reply]:
        holder = next((m for m in reversed(self.last) if any(b["title"] == title for b in m.get("buttons") or [])), None)
        if holder is None:
            raise StepFailed(f"no {title} button")
        button = next(b for b in holder["buttons"] if b["title"] == title)
        return await self._post("/api/chat/messages", {"button": {"message_id": holder["id"], "id": button["id"]}})

    async def secret(self, pin: str) -> list[Reply]:
        return await self._post("/api/chat/pin", {"pin": pin})


class RasaConversation:
    """The same conversation straight to Rasa's REST webhook (the baseline)."""

    def __init__(self, http: httpx.AsyncClient, secret: str, api_token: str, customer_id: str | None = None,
                 turns_max: int = 0) -> None:
        self.http = http
        self.sender = secrets.token_hex(16)
        self.secret_key = secret
        self.api_token = api_token
        self.customer_id = customer_id
        self.turns_max = turns_max
        self.turns = 0
        self.last: list[dict] = []

    async def _session_rollover(self) -> None:
        """What the gateway's SessionKeeper does for a long conversation, so that both targets keep
        conversations of the same length: after `turns_max` messages, a new Rasa session unless a
        task is running."""
        self.turns += 1
        if not self.turns_max or self.turns <= self.turns_max:
            return
        response = await self.http.get(f"/conversations/{self.sender}/tracker",
                                       params={"include_events": "NONE", "token": self.api_token})
        if response.status_code != 200:
            raise StepFailed(f"HTTP {response.status_code}")
        if task_running(response.json()):
            return
        if (await self._post_message("/session_start")).status_code != 200:
            raise StepFailed("session_start failed")
        self.turns = 1

    def _metadata(self, text: str) -> dict:
        metadata: dict = {"channel": "web"}
        if self.customer_id:
            metadata[METADATA_KEY] = sign_identity(self.secret_key, customer_id=self.customer_id, sender=self.sender, text=text)
        return metadata

    async def _post_message(self, text: str) -> httpx.Response:
        """One message on the gateway's signed channel, signed as the gateway signs it (RasaClient.send)."""
        body = json.dumps({"sender": self.sender, "message": text, "metadata": self._metadata(text)}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign_body(channel_key(self.secret_key), body)}
        return await self.http.post(CHANNEL_PATH, content=body, headers=headers)

    async def say(self, text: str) -> list[Reply]:
        await self._session_rollover()
        response = await self._post_message(text)
        if response.status_code != 200:
            raise StepFailed(f"HTTP {response.status_code}")
        self.last = [m for m in response.json() if isinstance(m, dict)]
        replies: list[Reply] = []
        for m in self.last:  # Rasa sends an utterance's custom payload as a message of its own
            if m.get("custom") and not m.get("text") and replies and replies[-1].custom is None:
                replies[-1] = Reply(replies[-1].text, replies[-1].buttons, m["custom"])
            else:
                replies.append(Reply(m.get("text") or "", tuple(b["title"] for b in m.get("buttons") or []), m.get("custom")))
        return replies

    async def click(self, title: str) -> list[Reply]:
        button = next((b for m in reversed(self.last) for b in m.get("buttons") or [] if b["title"] == title), None)
        if button is None:
            raise StepFailed(f"no {title} button")
        return await self.say(button["payload"])

    async def secret(self, pin: str) -> list[Reply]:
        """What Rasa does for a PIN: the gateway appends the outcome to the tracker (see SecurePath)."""
        text = say("transfer_done", recipient="-", amount="-", balance="-", reference="bench")
        events = [{"event": "bot", "text": text}] + [{"event": "slot", "name": s, "value": None} for s in ("draft_id", "pending_offer")]
        response = await self.http.post(f"/conversations/{self.sender}/tracker/events", json=events, params={"token": self.api_token})
        if response.status_code != 200:
            raise StepFailed(f"HTTP {response.status_code}")
        return [Reply(text)]


class GatewayTarget:
    name = "e2e"

    def __init__(self, base_url: str, secret: str, users_max: int) -> None:
        self.secret = secret
        self.http = _client(base_url, users_max)
        self._visitors: dict[int, GatewayConversation] = {}
        self._customers: dict[str, GatewayConversation] = {}

    def visitor(self, n: int) -> GatewayConversation:
        return self._visitors.setdefault(n, GatewayConversation(self.http))

    def customer(self, customer: BenchCustomer) -> GatewayConversation:
        token = issue_app_token(self.secret, customer.customer_id)
        return self._customers.setdefault(customer.customer_id, GatewayConversation(self.http, token))

    def new_visitor(self) -> GatewayConversation:
        return GatewayConversation(self.http)


class RasaTarget:
    name = "rasa"

    def __init__(self, base_url: str, secret: str, api_token: str, users_max: int, turns_max: int = 0) -> None:
        self.secret, self.api_token, self.turns_max = secret, api_token, turns_max
        self.http = _client(base_url, users_max)
        self._visitors: dict[int, RasaConversation] = {}
        self._customers: dict[str, RasaConversation] = {}

    def _conversation(self, customer_id: str | None = None) -> RasaConversation:
        return RasaConversation(self.http, self.secret, self.api_token, customer_id, turns_max=self.turns_max)

    def visitor(self, n: int) -> RasaConversation:
        if n not in self._visitors:
            self._visitors[n] = self._conversation()
        return self._visitors[n]

    def customer(self, customer: BenchCustomer) -> RasaConversation:
        if customer.customer_id not in self._customers:
            self._customers[customer.customer_id] = self._conversation(customer.customer_id)
        return self._customers[customer.customer_id]

    def new_visitor(self) -> RasaConversation:
        return self._conversation()


def _client(base_url: str, users_max: int) -> httpx.AsyncClient:
    # Cookies are kept per conversation (GatewayConversation), never in the shared client.
    no_cookies = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=5.0),
        limits=httpx.Limits(max_connections=users_max * 2 + 10, max_keepalive_connections=users_max * 2 + 10),
        cookies=no_cookies,
    )


# ------------------------------------------------------------------------------------------ tasks


@dataclass
class Sample:
    step: str
    started_s: float  # since the run's start
    latency_s: float
    error: str = ""


@dataclass
class Run:
    """One target at one concurrency: every step's sample."""

    target: str
    users: int
    duration_s: float
    warmup_s: float
    think_s: float
    samples: list[Sample] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)

    async def step(self, name: str, call: Awaitable[list[Reply]], check: Callable[[list[Reply]], str | None]) -> list[Reply]:
        started = time.perf_counter()
        error = ""
        replies: list[Reply] = []
        try:
            replies = await call
            error = check(replies) or ""
        except StepFailed as exc:
            error = str(exc)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}"
        except (ValueError, KeyError) as exc:  # an answer that is not the documented JSON
            error = f"bad answer: {type(exc).__name__}"
        self.samples.append(Sample(name, started - self.t0, time.perf_counter() - started, error))
        if error:
            raise StepFailed(error)
        return replies


def _texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def answered(replies: list[Reply]) -> str | None:
    return None if any(r.sender == "bot" and (r.text or r.buttons) for r in replies) else "no answer from the bot"


def shows_money(replies: list[Reply]) -> str | None:
    return None if "¥" in _texts(replies) else "no amount in the answer"


def offers(title: str) -> Callable[[list[Reply]], str | None]:
    return lambda replies: None if any(title in r.buttons for r in replies) else f"no {title} button"


def asks_pin(replies: list[Reply]) -> str | None:
    wants = any((r.custom or {}).get("type") == "pin_request" and r.custom.get("kind") == "pin" for r in replies)
    return None if wants else "no PIN request"


def transfer_done(replies: list[Reply]) -> str | None:
    return None if "转账成功" in _texts(replies) else "no receipt"


class Customer:
    """One simulated customer: a visitor conversation for questions, a signed-in one for money."""

    def __init__(self, n: int, target, bench_customer: BenchCustomer, texts: Texts, run: Run, rng: random.Random) -> None:
        self.n, self.target, self.me, self.texts, self.run, self.rng = n, target, bench_customer, texts, run, rng

    async def think(self) -> None:
        await asyncio.sleep(self.run.think_s * self.rng.uniform(0.5, 1.5))

    async def faq(self) -> None:
        await self.run.step("faq", self.target.visitor(self.n).say(self.rng.choice(self.texts.faq)), answered)

    async def account(self) -> None:
        step = self.rng.choice(("balance", "history"))
        text = self.rng.choice(self.texts.balance if step == "balance" else self.texts.history)
        await self.run.step(step, self.target.customer(self.me).say(text), shows_money if step == "balance" else answered)

    async def transfer(self) -> None:
        conversation = self.target.customer(self.me)
        text = self.rng.choice(self.texts.transfer).format(recipient=self.me.recipient, amount=self.rng.randint(1, TRANSFER_YUAN_MAX))
        await self.run.step("transfer_request", conversation.say(text), offers("确认转账"))
        await self.think()
        await self.run.step("transfer_confirm", conversation.click("确认转账"), asks_pin)
        await self.think()
        await self.run.step("transfer_pin", conversation.secret(self.me.pin), transfer_done)

    async def handoff(self) -> None:
        await self.run.step("handoff", self.target.new_visitor().say(self.rng.choice(self.texts.handoff)), answered)

    async def live(self, deadline: float) -> None:
        tasks = list(TASK_WEIGHTS)
        weights = list(TASK_WEIGHTS.values())
        await asyncio.sleep(self.rng.uniform(0, self.run.think_s))  # customers do not arrive in lockstep
        while time.perf_counter() < deadline:
            task = self.rng.choices(tasks, weights)[0]
            try:
                await getattr(self, task)()
            except StepFailed:
                pass  # recorded; the customer moves on
            await self.think()


async def run_level(target, customers: list[BenchCustomer], texts: Texts, *, users: int, duration_s: float,
                    warmup_s: float, think_s: float, seed: int) -> Run:
    """`users` customers for `duration_s`; tasks under way at the end are finished, not cut."""
    run = Run(target.name, users, duration_s, warmup_s, think_s)
    deadline = run.t0 + duration_s
    people = [Customer(n, target, customers[n - 1], texts, run, random.Random(seed * 1000 + n)) for n in range(1, users + 1)]
    await asyncio.gather(*(person.live(deadline) for person in people))
    return run


# ------------------------------------------------------------------------------------------ figures


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def figures(samples: list[Sample], window_s: float) -> dict:
    latencies = [s.latency_s * 1000 for s in samples if not s.error]
    result = {"requests": len(samples), "errors": sum(1 for s in samples if s.error),
              "throughput_rps": round(len(samples) / window_s, 2) if window_s > 0 else 0.0}
    for p in (50, 95, 99):
        result[f"p{p}_ms"] = round(percentile(latencies, p), 1) if latencies else None
    return result


def summarize(runs: list[Run]) -> dict:
    """Steady-state figures over one target's rounds at one concurrency: steps started after each
    round's warm-up and before its end (the tail is excluded); errors count every step."""
    window = sum(run.duration_s - run.warmup_s for run in runs)
    steady = [s for run in runs for s in run.samples if run.warmup_s <= s.started_s < run.duration_s]
    every = [s for run in runs for s in run.samples]
    by_step = {step: figures([s for s in steady if s.step == step], window) for step in STEPS}
    overall = figures(steady, window)
    overall["errors"] = sum(1 for s in every if s.error)
    errors: dict[str, int] = {}
    for s in every:
        if s.error:
            errors[f"{s.step}: {s.error}"] = errors.get(f"{s.step}: {s.error}", 0) + 1
    return {"target": runs[0].target, "users": runs[0].users, "rounds": len(runs), "overall": overall,
            "steps": {k: v for k, v in by_step.items() if v["requests"]}, "error_kinds": errors}


async def parse_latency(rasa_url: str, api_token: str, texts: list[str], *, warmup: int = 10) -> dict:
    """`POST /model/parse`, one request at a time: the NLU pipeline's own latency."""
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=rasa_url, timeout=REQUEST_TIMEOUT_S) as http:
        for text in texts[:warmup]:
            await http.post("/model/parse", json={"text": text}, params={"token": api_token})
        for text in texts:
            started = time.perf_counter()
            response = await http.post("/model/parse", json={"text": text}, params={"token": api_token})
            if response.status_code != 200:
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
    return {"requests": len(texts), "errors": errors,
            "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 95), 1) if latencies else None}
