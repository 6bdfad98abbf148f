"""One customer message in, the replies out: shared by web chat, Telegram, WeChat and the CLI.

The customer's text is stored (masked), forwarded to Rasa with the gateway-signed identity, and the
replies are stored and published. A leading "/" never reaches Rasa as an intent payload: only
button payloads kept on the server may carry one. The handoff to human agents (`bot.gateway.desk`)
hooks in where a reply asks for a human, where Rasa is down, and while a conversation is with an agent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from starlette.concurrency import run_in_threadpool

from bot import cues
from bot.dedupe import Resumed
from bot.gateway import clauses
from bot.gateway.desk import HandoffDesk
from bot.gateway.hub import Hub
from bot.gateway.rasa_client import RasaClient, RasaUnavailable
from bot.gateway.secure import SecurePath
from bot.gateway.sessions import SessionKeeper
from bot.phrases import say
from bot.handoff import ChatStore, ConversationView, MessageView
from bot.identity import METADATA_KEY, sign_identity
from bot.handoff.models import utcnow
from bot.masking import RECIPIENT_NUMBER, mask_id_numbers, mask_personal_numbers, recipient_numbers
from bot.sealing import seal
from bot.secret_text import SECRET_REQUEST_WINDOW_S, named_secret, six_digit_runs
from bot.security_events import SecurityEvents
from bot.settings import Settings
from bot.textnorm import clean_spaces

log = logging.getLogger(__name__)

ACTIONS_HEALTH_TIMEOUT_S = 2.0
# A phone or wallet number never reaches Rasa in clear: each becomes a numbered token in the text, and the
# numbers travel sealed in the message's metadata, for the actions alone (see `numbers_for_rasa`).
NUMBER_TOKEN = "【号码{n}】"
NUMBERS_METADATA_KEY = "sealed_numbers"
# Characters that read as a slash: none may start an `/intent` payload.
SLASHES = "/／∕⁄⧸╱"
# Control characters (NUL, escapes, C1) and bidi overrides carry no meaning in a chat message; PostgreSQL
# refuses NUL in text, and an override can make a message read backwards in the agent console.
# A summary's confirm button: `/affirm{"draft_id": "d-…"}` (see `confirmed_draft`).
CONFIRM_PAYLOAD = re.compile(r"/affirm(\{.*\})", re.DOTALL)
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

Deliver = Callable[[ConversationView, MessageView], Awaitable[None]]


class ChatInputRejected(Exception):
    """The customer's input cannot be processed; `reply` says why, in Chinese."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class Exchange:
    customer_message: MessageView
    replies: list[MessageView]

    @property
    def outgoing(self) -> list[MessageView]:
        """What a messenger sends back: a system notice that stood in for the customer's message (a
        withheld or captured secret), then the replies. Web chat shows both from the API answer."""
        lead = [self.customer_message] if self.customer_message.sender == "system" else []
        return lead + self.replies


def numbers_for_rasa(text: str) -> tuple[str, list[str]]:
    """The text as Rasa may keep it in its tracker, and the recipient numbers it had.

    Phone and wallet numbers become tokens (【号码1】 …) whose digits go sealed in the metadata for the
    actions (a transfer's recipient: "给13812345678转100"); ID numbers and any other personal number
    are masked, as in the transcript. Rasa's tracker, and its logs, never hold one in clear.
    """
    numbers: list[str] = []

    def token(match: re.Match) -> str:
        numbers.extend(recipient_numbers(match.group(0)))
        return NUMBER_TOKEN.format(n=len(numbers))

    text = RECIPIENT_NUMBER.sub(token, mask_id_numbers(text))
    return mask_personal_numbers(text), numbers


# A message that is nothing but six digits is a PIN or a code typed in the wrong place: never stored or sent on.
BARE_SIX_DIGITS = re.compile(r"\s*[0-9０-９]{6}\s*[。.!！]?\s*")
HUMAN_REQUEST_PAYLOAD = "/request_human"  # the gateway's own payloads, never customer text
COMPLAINT_PAYLOAD = '/complain{"person": "yes"}'


def wants_person(text: str) -> bool:
    """A request for a person (not a question about the service, not "不用人工", not a caller asking for
    a code): the gateway asks for the handoff itself, so no model miss can leave the customer with the bot."""
    return cues.match("wants_person", text) and not any(
        cues.match(cue, text) for cue in ("declines_person", "asks_about_service", "asked_for_secret")
    )


def text_for_rasa(text: str) -> str:
    """Customer text as Rasa may see it: never an `/intent{...}` payload. Every Unicode space and format
    character (U+3000, NBSP, U+2028, U+200B, U+FEFF…) is normalised first, so none can hide a leading slash."""
    return clean_spaces(text).lstrip(SLASHES + " \n")


class ChatService:
    def __init__(self, settings: Settings, store: ChatStore, rasa: RasaClient, hub: Hub, session_factory=None,
                 http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._http = http  # shared, for the action server's /health (probed on every Rasa turn)
        self.store = store
        self.rasa = rasa
        self.hub = hub
        self.security_events = SecurityEvents()  # counted for `GET /metrics`
        self.secure = SecurePath(self, session_factory)
        self.sessions = SessionKeeper(rasa, turns_max=settings.rasa_session_turns_max)
        self.handoff = HandoffDesk(self, session_factory)
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._deliverers: dict[str, Deliver] = {}

    def register_channel(self, channel: str, deliver: Deliver) -> None:
        """How to reach a channel's customer unprompted (agent replies, queue moves): `deliver(conversation, message)`."""
        self._deliverers[channel] = deliver

    async def push(self, conversation: ConversationView, **fields) -> MessageView:
        """Append, publish, and deliver through the conversation's channel (web chat has SSE instead)."""
        message = await self.append(conversation, **fields)
        deliver = self._deliverers.get(conversation.channel)
        if deliver is not None:
            try:
                await deliver(conversation, message)
            except Exception:  # the message is stored; the channel retries or the customer sees it later
                log.exception("could not deliver message %s to %s", message.id, conversation.channel)
        return message

    def check_text(self, text: object) -> str:
        if not isinstance(text, str):
            raise ChatInputRejected(say("bad_request"))
        text = clean_spaces(CONTROL_CHARS.sub("", text))
        if not text:
            raise ChatInputRejected(say("empty_message"))
        if len(text) > self.settings.message_chars_max:
            raise ChatInputRejected(say("message_too_long", limit=self.settings.message_chars_max))
        return text

    async def append(self, conversation: ConversationView, **fields) -> MessageView:
        return (await self._append_many(conversation, [fields], None))[0]

    def _metadata(self, conversation: ConversationView, text: str) -> dict:
        """The message's metadata: the customer's identity, bound to this one message's `text`."""
        metadata: dict = {"channel": conversation.channel}
        if conversation.customer_id:
            metadata[METADATA_KEY] = sign_identity(
                self.settings.secret, customer_id=conversation.customer_id, sender=conversation.id, text=text
            )
        return metadata

    async def handle_text(self, conversation: ConversationView, text: object) -> Exchange:
        text = self.check_text(text)
        exposed_advice = say("secret_exposed_advice")
        runs = six_digit_runs(text)  # the one rule of a six-digit secret: `bot.secret_text`
        run = runs[0] if len(runs) == 1 else None
        if conversation.awaiting_secret and run is not None:
            kind_asked = conversation.awaiting_secret
            # A PIN or code typed into the chat box: checked on the secure path, never stored or forwarded.
            # In a messenger it stays in the app's history: exposed, so the customer is advised to change it.
            async with self._locks[conversation.id]:
                conversation = await self._current(conversation)
                replies = await self.secure.submit(conversation, conversation.awaiting_secret or kind_asked, run)
                captured = say("secret_captured") + ("" if conversation.channel == "web" else exposed_advice)
                notice = await self.append(conversation, sender="system", text=captured)
                return Exchange(notice, replies)
        asked_since = utcnow() - timedelta(seconds=SECRET_REQUEST_WINDOW_S)
        if named_secret(text) is not None or BARE_SIX_DIGITS.fullmatch(text) or (runs and (
            conversation.awaiting_secret or await run_in_threadpool(self.store.secret_requested_since, conversation.id, asked_since)
        )):
            # "密码246810" at any time, or a PIN retyped soon after a request (after a lockout, a cancel), or
            # two six-digit runs while one is awaited (one may be the PIN): discarded, never stored, forwarded
            # to Rasa or shown to an agent.
            self.security_events.record("secret_withheld", channel=conversation.channel, detail=f"conversation {conversation.id}")
            async with self._locks[conversation.id]:
                notice = await self.append(conversation, sender="system", text=say("secret_withheld") + exposed_advice)
                return Exchange(notice, [])
        async with self._locks[conversation.id]:
            conversation = await self._current(conversation)
            routed = await self.handoff.route_text(conversation, text)  # with an agent, or writing a ticket
            if routed is not None:
                return Exchange(*routed)
            customer_message = await self.append(conversation, sender="customer", text=text)
            recovered = await self.secure.recover(conversation)  # after a crash mid-transfer: say what happened
            if recovered is not None:
                return Exchange(customer_message, recovered)
            payload = text_for_rasa(text)
            if not payload:
                return Exchange(customer_message, [await self.append(conversation, sender="bot", text=say("slash_only"))])
            if wants_person(payload):
                # "转人工", "找个工作人员", "客服在吗": honoured at once, whatever else the message says
                # (a complaint that asks for someone is apologised for first).
                request = COMPLAINT_PAYLOAD if cues.match("complaint", payload) else HUMAN_REQUEST_PAYLOAD
                return Exchange(customer_message, await self._ask_rasa(conversation, request))
            replies: list[MessageView] = []
            for_rasa, numbers = numbers_for_rasa(payload)
            for turn in await self._turns(conversation, for_rasa):
                replies += await self._ask_rasa(conversation, turn, numbers=numbers)
            return Exchange(customer_message, replies)

    async def resume(self, conversation: ConversationView, resumed: Resumed) -> list[MessageView]:
        """The answer to a messenger event a killed gateway was handling (`bot.dedupe`): the replies it had
        stored and not sent; or, when it died before any reply, an honest notice — the turn is never run
        twice (a draft or a Rasa turn doubled)."""
        ids = set(resumed.message_ids)
        stored = [m for m in await run_in_threadpool(self.store.messages_after, conversation.id, resumed.watermark) if m.id in ids]
        last_customer = max((n for n, m in enumerate(stored) if m.sender == "customer"), default=-1)
        replies = [m for m in stored[last_customer + 1:] if m.sender != "customer"]
        if replies:
            return replies
        async with self._locks[conversation.id]:
            return [await self.append(conversation, sender="system", text=say("turn_interrupted"))]

    async def _turns(self, conversation: ConversationView, text: str) -> list[str]:
        """Two questions in one message become two turns (`bot.gateway.clauses`); never mid-secret."""
        if conversation.awaiting_secret:
            return [text]
        try:
            return await clauses.turns(text, lambda part: self.rasa.parse(conversation.id, part))
        except RasaUnavailable:
            return [text]

    async def handle_button(self, conversation: ConversationView, message_id: int, button_id: str) -> Exchange:
        button = await run_in_threadpool(self.store.button, conversation.id, message_id, button_id)
        async with self._locks[conversation.id]:
            conversation = await self._current(conversation)
            routed = await self.handoff.route_button(conversation, button)  # gateway buttons, or with an agent
            if routed is not None:
                return Exchange(*routed)
            customer_message = await self.append(conversation, sender="customer", text=button["title"])
            recovered = await self.secure.recover(conversation)
            if recovered is not None:
                return Exchange(customer_message, recovered)
            payload = button["payload"] or text_for_rasa(button["title"])
            return Exchange(customer_message, await self._ask_rasa(conversation, payload))

    async def _ask_rasa(self, conversation: ConversationView, payload: str, *, numbers: list[str] | None = None) -> list[MessageView]:
        await self.sessions.before_message(conversation.id, busy=bool(conversation.awaiting_secret))
        metadata = self._metadata(conversation, payload)
        if numbers:
            metadata[NUMBERS_METADATA_KEY] = seal(self.settings.secret, json.dumps(numbers))
        # The action server is probed while Rasa works as well as after: one that was down when Rasa
        # called it and restarted meanwhile answers /health again by the time Rasa has given up on it,
        # and the lost answer would pass for a turn with nothing to say (found by the chaos soak).
        up_before = asyncio.ensure_future(self._actions_up())
        try:
            answers = await self.rasa.send(conversation.id, payload, metadata)
        except RasaUnavailable as exc:
            up_before.cancel()
            log.warning("rasa unavailable for conversation %s: %s", conversation.id, exc)
            return await self.handoff.on_bot_unavailable(conversation)
        replies = await self.store_replies(conversation, answers)
        if replies:
            up_before.cancel()
        elif not (await up_before and await self._actions_up()):
            # Rasa lost the custom action's answer (its events too, so the dialogue state is intact):
            # apologise and offer a human instead of leaving the customer with silence.
            log.warning("action server unavailable for conversation %s", conversation.id)
            offer = [{"title": say("human_button"), "payload": "@handoff:bot_unavailable"}]
            replies = [await self.append(conversation, sender="system", text=say("actions_unavailable"), buttons=offer)]
        return replies

    async def _actions_up(self) -> bool:
        url = f"{self.settings.actions_url}/health"
        try:
            if self._http is not None:
                return (await self._http.get(url, timeout=ACTIONS_HEALTH_TIMEOUT_S)).status_code == 200
            async with httpx.AsyncClient(timeout=ACTIONS_HEALTH_TIMEOUT_S) as http:
                return (await http.get(url)).status_code == 200
        except httpx.HTTPError:
            return False

    async def submit_secret(self, conversation: ConversationView, kind: str, value: str) -> list[MessageView]:
        async with self._locks[conversation.id]:
            return await self.secure.submit(await self._current(conversation), kind, value)

    async def resend_otp(self, conversation: ConversationView) -> list[MessageView]:
        async with self._locks[conversation.id]:
            return await self.secure.resend_otp(await self._current(conversation))

    async def _current(self, conversation: ConversationView) -> ConversationView:
        """The conversation as stored now, read under its lock: a view read before the lock may be stale (a
        racing PIN already paid, so "still awaiting a PIN" would look like a transfer a crash interrupted)."""
        return await run_in_threadpool(self.store.get_conversation, conversation.id)

    async def store_replies(self, conversation: ConversationView, answers: list[dict]) -> list[MessageView]:
        """Store and publish Rasa's answers, in one transaction up to a handoff (which adds messages of its own)."""
        replies: list[MessageView] = []
        pending: list[dict] = []
        awaiting: tuple[str | None, str | None] | None = None  # what the bot now waits for, when that changes
        shown: str | None = None  # the draft of a summary shown in these answers
        for answer in _merge_custom(answers):
            text = answer.get("text") or ""
            buttons = [b for b in answer.get("buttons") or [] if isinstance(b, dict) and b.get("title")]
            custom = answer.get("custom") if isinstance(answer.get("custom"), dict) else None
            shown = confirmed_draft(buttons) or shown
            if custom and custom.get("type") == "pin_request" and custom.get("kind") in {"pin", "otp"}:
                # A PIN pays only the draft whose summary the customer saw last, as the ledger describes it.
                last_shown = shown or (await run_in_threadpool(self.store.get_conversation, conversation.id)).shown_draft_id
                custom = await self.secure.confirmable(conversation, custom, last_shown)
                if custom is None:
                    text, buttons = say("draft_expired"), []
                else:
                    awaiting = (custom["kind"], custom["draft_id"])
            elif custom and custom.get("type") == "secret_cancelled":
                awaiting, custom = (None, None), None
            handoff = custom is not None and custom.get("type") == "handoff"
            if text or buttons or (custom and not handoff):
                pending.append({"sender": "bot", "text": text, "buttons": buttons, "custom": custom})
            if handoff:  # the desk says what became of the request (queued, or a ticket offered)
                replies += await self._append_many(conversation, pending, awaiting, shown)
                pending, awaiting = [], None
                replies.extend(await self.handoff.on_handoff_reply(conversation, custom))
        if pending or awaiting is not None:
            replies += await self._append_many(conversation, pending, awaiting, shown)
        return replies

    async def _append_many(
        self, conversation: ConversationView, messages: list[dict], awaiting, shown_draft_id: str | None = None
    ) -> list[MessageView]:
        stored = await run_in_threadpool(
            lambda: self.store.append_many(conversation.id, messages, awaiting=awaiting, shown_draft_id=shown_draft_id)
        )
        for message in stored:
            self.hub.publish(conversation.id, "message", message.public())
        return stored

    async def tell_rasa(self, conversation: ConversationView, text: str, *, reset_slots: list[str]) -> None:
        """Record in Rasa's tracker what the gateway told the customer, so the dialogue stays coherent."""
        events = [{"event": "bot", "text": text}] + [{"event": "slot", "name": s, "value": None} for s in reset_slots]
        try:
            await self.rasa.append_events(conversation.id, events)
        except RasaUnavailable as exc:
            log.warning("could not update Rasa's tracker for %s: %s", conversation.id, exc)


def confirmed_draft(buttons: list[dict]) -> str | None:
    """The draft a summary's confirm button pays (`/affirm{"draft_id": X}`), or None."""
    for button in buttons:
        match = CONFIRM_PAYLOAD.fullmatch(str(button.get("payload") or ""))
        if match is None:
            continue
        try:
            entities = json.loads(match.group(1))
        except ValueError:
            continue
        if isinstance(entities, dict) and isinstance(entities.get("draft_id"), str) and entities["draft_id"]:
            return entities["draft_id"]
    return None


def _merge_custom(answers: list[dict]) -> list[dict]:
    """Rasa sends an utterance's text and its custom payload as two messages: make them one again."""
    merged: list[dict] = []
    for answer in answers:
        if not isinstance(answer, dict):
            continue
        lone_custom = answer.get("custom") and not answer.get("text") and not answer.get("buttons")
        if lone_custom and merged and merged[-1].get("text") and not merged[-1].get("custom"):
            merged[-1] = {**merged[-1], "custom": answer["custom"]}
        else:
            merged.append(dict(answer))
    return merged
