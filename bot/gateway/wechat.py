"""WeChat official account: `GET` and `POST /wechat`, with wechatpy.

On when `WECHAT_TOKEN` is set. Every request's `signature` (token, timestamp, nonce) is checked first
(403 otherwise, and for timestamps more than `SIGNATURE_AGE_MAX_S` away); an encrypted request's
(`encrypt_type=aes`) `msg_signature` too, then it is decrypted with `WECHAT_AES_KEY`. The signature
covers no body, so a signed URL is used once: a timestamp and nonce seen before are refused (403, kept
in `inbound_events` beyond the signature's lifetime), and in safe mode (`WECHAT_ENCODING_MODE=safe`,
the default with an AES key) a body in clear — no `encrypt_type=aes`, or no `Encrypt` element — is
refused (400), so nobody holding a signed URL can post a message of their own. Each refusal is a
security event (`bot.security_events`).

WeChat waits 5 seconds for an answer and retries the same `MsgId` twice. So each message is handled
once (the inbox, `bot.dedupe.Inbox`: written, sealed, before anything else and marked done once its
answer is claimed; one a killed gateway was answering is answered by a retry or, after the retries,
by the next gateway at startup through the customer-service API) in a task of its own, and every
request for it (the first and WeChat's retries) waits for that task until its own deadline (`wechat_reply_deadline_s` after it arrived):

* done in time: the answer is the passive reply (its first 2,048 bytes; the rest follows through the
  customer-service message API);
* not done: the request answers "success", and the answer goes through the customer-service API when
  it is ready — unless a retry is waiting by then, which takes it as its passive reply.

Exactly one of them takes the answer (`PendingAnswer.claim`), so it is never lost and never doubled.

Text goes to `ChatService`; buttons become numbered options ("回复 1 选择…") and a bare number picks
one of the latest bot or gateway message; a PIN or SMS code typed while one is awaited goes to the
secure path, never stored (and the customer is warned that WeChat keeps chat history);
`绑定 123456` (`/bind 123456`) and `解绑` (`/unbind`) bind the account with `bot.binding` (the code
is never stored or logged). Agent replies and queue updates reach the customer through the
customer-service API (`deliver`, registered with `ChatService.register_channel`). Failures are
logged without message text and answered "success", never with a 500.

Errors: `WeChatError > {WeChatApiError, WeChatApiUnavailable}`; `WeChatMisconfigured` at startup.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import func, select
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot.binding import BindAttemptsExceeded, BindCodeInvalid, Binder
from bot.dedupe import Inbox
from bot.gateway.chat import ChatInputRejected, ChatService
from bot.gateway.secure import SecretRejected, looks_like_secret
from bot.handoff import ButtonNotFound, ConversationView, MessageView
from bot.handoff.models import ChatMessage
from bot.phrases import say
from bot.settings import Settings
from bot.textnorm import normalize
from bot.wallet.messages import format_local_time

log = logging.getLogger(__name__)

CHANNEL = "wechat"
SUCCESS = "success"  # WeChat's "received, no passive reply"
DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
REPLY_BYTES_MAX = 2048  # WeChat's limit for one text message, passive or customer-service
BODY_BYTES_MAX = 64 * 1024
SIGNATURE_AGE_MAX_S = 300  # a signed URL cannot be replayed later with another body
NONCE_CHANNEL = "wechat-nonce"  # inbox channel of the (timestamp, nonce) pairs already used
API_TIMEOUT_S = 5.0
TOKEN_REFRESH_MARGIN_S = 300  # renew the access token this long before WeChat says it expires
SEND_ATTEMPTS_MAX = 3
SEND_RETRY_PAUSE_S = 0.5
SHUTDOWN_WAIT_S = 5.0
TOKEN_ERRCODES = {40001, 40014, 42001}  # invalid, malformed or expired access token

BIND = re.compile(r"^(?:/bind|绑定)\s*([0-9]{6})$", re.IGNORECASE)  # ASCII digits only, as every six-digit code
BIND_ATTEMPT = re.compile(r"^(?:/bind|绑定\s*\d+$)", re.IGNORECASE)  # a mistyped code is not stored either
UNBIND = {"/unbind", "解绑"}
OPTION_SENDERS = ("bot", "system")  # whose latest message's buttons a bare number picks
NOT_TEXT = {"image", "voice", "video", "shortvideo", "location", "link", "miniprogrampage"}
OPTION_NUMBER = re.compile(r"^\d{1,2}$")
SECRET_QUERY = re.compile(r"\b(access_token|secret)=[^&\s\"']+")


class WeChatMisconfigured(RuntimeError):
    """The WeChat settings cannot work (the gateway refuses to start)."""


class WeChatError(Exception):
    """Base of errors talking to WeChat's API."""


class WeChatApiError(WeChatError):
    """WeChat answered with an error code (e.g. 45015: the customer has not written for 48 hours)."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode


class WeChatApiUnavailable(WeChatError):
    """WeChat's API could not be reached or answered something that is not JSON."""


# ---------------------------------------------------------------- pure helpers


def render(messages: Sequence[MessageView]) -> str:
    """What the customer reads: the messages in order; the last bot (or gateway) message's buttons as
    numbered options, which a bare number picks."""
    last_bot = max((i for i, m in enumerate(messages) if m.sender in OPTION_SENDERS and m.buttons), default=None)
    parts = []
    for index, message in enumerate(messages):
        lines = [_text_for_wechat(message)]
        if message.buttons and index == last_bot:
            lines += [say("wechat_option", number=n, title=b["title"]) for n, b in enumerate(message.buttons, start=1)]
        parts.append("\n".join(line for line in lines if line))
    return "\n\n".join(part for part in parts if part)


def _text_for_wechat(message: MessageView) -> str:
    custom = message.custom or {}
    if custom.get("type") != "pin_request":
        return message.text
    hint = say("wechat_otp_hint" if custom.get("kind") == "otp" else "wechat_pin_hint")
    if not message.text or message.text in (say("pin_prompt"), say("otp_prompt")):
        return hint  # the web's wording mentions the secure keypad, which WeChat has not
    return f"{message.text}\n{hint}"


def _prefix_within(text: str, bytes_max: int) -> int:
    """The largest i such that text[:i] takes at most `bytes_max` bytes in UTF-8."""
    size = 0
    for index, char in enumerate(text):
        size += len(char.encode())
        if size > bytes_max:
            return index
    return len(text)


def split_text(text: str, bytes_max: int = REPLY_BYTES_MAX) -> list[str]:
    """Pieces of at most `bytes_max` UTF-8 bytes, cut between lines where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= bytes_max:
            current = candidate
            continue
        if current.strip():
            pieces.append(current.strip("\n"))
        while len(line.encode()) > bytes_max:
            cut = _prefix_within(line, bytes_max)
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current.strip():
        pieces.append(current.strip("\n"))
    return pieces


def signature_is_valid(token: str, signature: str, timestamp: str, nonce: str, *, now_s: float | None = None) -> bool:
    try:
        check_signature(token, signature, timestamp, nonce)
        age_s = (time.time() if now_s is None else now_s) - int(timestamp)
    except (InvalidSignatureException, ValueError, TypeError):
        return False
    return abs(age_s) <= SIGNATURE_AGE_MAX_S


def dedupe_key(message) -> str:
    """`MsgId` for messages; sender and time for events, which have none (WeChat's advice)."""
    if message.type == "event" or not message.id:
        return f"{message.source}:{message.time}:{getattr(message, 'event', message.type)}"
    return str(message.id)


def nonce_key(timestamp: str, nonce: str) -> str:
    """The inbox key of one signed URL (its signature is a function of exactly these two)."""
    return f"{timestamp}:{nonce}" if len(nonce) <= 64 else f"{timestamp}:sha256:{hashlib.sha256(nonce.encode()).hexdigest()}"


def _crypto(settings: Settings) -> WeChatCrypto | None:
    """Safe mode's cipher when `WECHAT_AES_KEY` is set (it needs `WECHAT_APP_ID` too)."""
    if not settings.wechat_aes_key:
        return None
    if not settings.wechat_app_id:
        raise WeChatMisconfigured("WECHAT_AES_KEY is set but WECHAT_APP_ID is not")
    try:
        return WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)
    except (AssertionError, ValueError) as exc:
        raise WeChatMisconfigured("WECHAT_AES_KEY must be the account's 43-character EncodingAESKey") from exc


def _passive_text(text: str) -> str:
    return text.replace("]]>", "]] >")  # the reply is CDATA


def _where(error: BaseException) -> str:
    """Where an error happened, without its message (which may quote customer text)."""
    return f"{type(error).__name__}\n{''.join(traceback.format_tb(error.__traceback__))}"


class _RedactSecrets(logging.Filter):
    """httpx logs request URLs, and WeChat's carry the app secret or the access token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if SECRET_QUERY.search(message):
            record.msg, record.args = SECRET_QUERY.sub(r"\1=<redacted>", message), ()
        return True


REDACT_SECRETS = _RedactSecrets()


# ---------------------------------------------------------------- WeChat's customer-service message API


class CustomerServiceApi:
    """`message/custom/send` with an access token from `/cgi-bin/token`, cached until shortly before expiry."""

    def __init__(self, base_url: str, app_id: str, app_secret: str, http: httpx.AsyncClient) -> None:
        self.base_url = (base_url or DEFAULT_API_BASE_URL).rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._http = http
        self._token = ""
        self._token_expires_at = 0.0
        self._token_lock = asyncio.Lock()

    async def access_token(self, *, stale: str | None = None) -> str:
        """The cached token; a new one when it expires or when WeChat refused `stale`."""
        async with self._token_lock:
            if self._token and self._token != stale and time.monotonic() < self._token_expires_at:
                return self._token
            data = await self._call("GET", "/cgi-bin/token", params={"grant_type": "client_credential", "appid": self._app_id, "secret": self._app_secret})
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise WeChatApiError(int(data.get("errcode") or -1), str(data.get("errmsg") or "no access_token"))
            expires_in_s = float(data.get("expires_in") or 7200)
            self._token = token
            self._token_expires_at = time.monotonic() + max(expires_in_s - TOKEN_REFRESH_MARGIN_S, expires_in_s / 2)
            return token

    async def send_text(self, openid: str, content: str) -> None:
        body = json.dumps({"touser": openid, "msgtype": "text", "text": {"content": content}}, ensure_ascii=False).encode()
        token = await self.access_token()
        for attempt in (1, 2):
            data = await self._call(
                "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            errcode = int(data.get("errcode") or 0)
            if errcode == 0:
                return
            if errcode in TOKEN_ERRCODES and attempt == 1:
                token = await self.access_token(stale=token)
                continue
            raise WeChatApiError(errcode, str(data.get("errmsg") or ""))

    async def _call(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = await self._http.request(method, f"{self.base_url}{path}", timeout=API_TIMEOUT_S, **kwargs)
            data = response.json()
        except httpx.HTTPError as exc:
            raise WeChatApiUnavailable(type(exc).__name__) from exc  # no URL: it holds a secret
        except ValueError as exc:
            raise WeChatApiUnavailable(f"not JSON (HTTP {response.status_code})") from exc
        if not isinstance(data, dict):
            raise WeChatApiUnavailable(f"unexpected JSON (HTTP {response.status_code})")
        return data


# ---------------------------------------------------------------- the channel


@dataclass(eq=False)
class PendingAnswer:
    """One inbound message's answer, shared by the request that started it and WeChat's retries."""

    key: str
    openid: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    pieces: list[str] = field(default_factory=list)
    waiters: int = 0
    claimed: bool = False

    def claim(self) -> bool:
        """True for exactly one caller: the one that delivers the answer."""
        if self.claimed:
            return False
        self.claimed = True
        return True


@dataclass(frozen=True)
class Outcome:
    """What one WeChat request answers: a passive reply (or None: "success"), and pieces to send after it."""

    reply: str | None = None
    follow_up: list[str] = field(default_factory=list)


class WeChatChannel:
    def __init__(
        self, settings: Settings, chat: ChatService, binder: Binder, inbox: Inbox, api: CustomerServiceApi, session_factory
    ) -> None:
        self.settings = settings
        self.chat = chat
        self.binder = binder
        self.inbox = inbox
        self.api = api
        self._sessions = session_factory
        self.crypto = _crypto(settings)
        self._pending: dict[str, PendingAnswer] = {}
        self._tasks: set[asyncio.Task] = set()
        self._send_locks: dict[str, asyncio.Lock] = {}
        self._send_holders: Counter[str] = Counter()

    # -- one inbound message: handled once, answered passively or later

    async def respond(self, message, deadline: float, body: str | None = None) -> Outcome:
        """The answer to one request for `message` (its XML `body`), by `deadline` (event-loop time) or not at all."""
        key = dedupe_key(message)
        pending = self._pending.get(key)
        if pending is None:
            if await run_in_threadpool(self.inbox.receive, CHANNEL, key, body):
                pending = self._start(key, message)
            else:
                pending = self._pending.get(key)  # a retry: still being answered in this process?
                if pending is None:
                    log.info("wechat message %s repeated: already answered", key)
                    return Outcome()
        return await self._await(pending, deadline)

    def _start(self, key: str, message) -> PendingAnswer:
        pending = PendingAnswer(key=key, openid=message.source)
        self._pending[key] = pending
        self._spawn(self._answer_in_background(pending, message))
        return pending

    async def recover(self) -> None:
        """Answer, through the customer-service API, the messages a killed gateway had taken and not answered."""
        for orphan in await run_in_threadpool(self.inbox.orphans, CHANNEL):
            message = parse_message(orphan.body)
            if message is None or orphan.key in self._pending:
                continue
            log.info("wechat message %s taken by an earlier gateway and not answered: answering it now", orphan.key)
            self._start(orphan.key, message)

    def _claimed(self, pending: PendingAnswer) -> None:
        """The answer is on its way (a passive reply, or the API): the inbox may forget the message."""
        self._pending.pop(pending.key, None)
        self._spawn(run_in_threadpool(self.inbox.done, CHANNEL, pending.key))

    async def _answer_in_background(self, pending: PendingAnswer, message) -> None:
        try:
            pending.pieces = split_text(await self.answer(message, pending.key))
        except Exception as error:  # logged, and the customer gets nothing rather than a 500
            log.error("wechat message %s failed: %s", pending.key, _where(error))
        pending.done.set()
        if pending.waiters == 0 and pending.claim():  # every request has already said "success"
            await self._send_then_forget(pending)

    async def _await(self, pending: PendingAnswer, deadline: float) -> Outcome:
        loop = asyncio.get_running_loop()
        pending.waiters += 1
        try:
            remaining_s = deadline - loop.time()
            if remaining_s > 0 and not pending.done.is_set():
                try:
                    await asyncio.wait_for(pending.done.wait(), remaining_s)
                except asyncio.TimeoutError:
                    pass
        finally:
            pending.waiters -= 1
        if not pending.done.is_set():
            return Outcome()  # the task delivers through the API, or a later retry takes it
        if loop.time() <= deadline and pending.claim():
            self._claimed(pending)
            if not pending.pieces:
                return Outcome()
            return Outcome(reply=pending.pieces[0], follow_up=pending.pieces[1:])
        if pending.waiters == 0 and pending.claim():  # too late for a passive reply, and nobody else waits
            self._pending.pop(pending.key, None)
            self._spawn(self._send_then_forget(pending))
        return Outcome()

    async def _send_then_forget(self, pending: PendingAnswer) -> None:
        await self.send(pending.openid, pending.pieces)
        self._claimed(pending)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Let answers in progress finish (and reach the customer) for a moment, then stop."""
        if self._tasks:
            _, unfinished = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_WAIT_S)
            for task in unfinished:
                task.cancel()

    # -- what the customer is told

    async def answer(self, message, key: str | None = None) -> str:
        if message.type == "text":
            return await self.answer_text(message.source, message.content or "", key)
        if message.type == "event":
            return say("wechat_welcome") if message.event in ("subscribe", "subscribe_scan") else ""
        return say("wechat_text_only") if message.type in NOT_TEXT else ""  # unknown: most likely a new event

    async def answer_text(self, openid: str, text: str, key: str | None = None) -> str:
        clean = normalize(text)
        bind = BIND.match(clean)
        if bind:
            return await self._bind(openid, bind[1])
        if BIND_ATTEMPT.match(clean):
            return say("wechat_bind_usage")
        conversation = await self.conversation_for(openid)
        if clean.lower() in UNBIND and (clean.startswith("/") or conversation.customer_id):
            unbound = await run_in_threadpool(self.binder.unbind, CHANNEL, openid)
            return say("wechat_unbind_done" if unbound else "wechat_unbind_none")
        resumed = await run_in_threadpool(self.inbox.begin, CHANNEL, key, conversation.id) if key else None
        if resumed is not None:  # a killed gateway had begun it: what it stored, not a second turn
            return render(await self.chat.resume(conversation, resumed))
        try:
            if conversation.awaiting_secret and looks_like_secret(clean):
                # A PIN or SMS code: checked on the secure path, never stored or forwarded to Rasa.
                replies = await self.chat.submit_secret(conversation, conversation.awaiting_secret, clean)
                return "\n\n".join(filter(None, [render(replies), say("wechat_secret_warning")]))
            option = await self._option(conversation, clean)
            if option is not None:
                exchange = await self.chat.handle_button(conversation, *option)
            else:
                exchange = await self.chat.handle_text(conversation, text)
        except (ChatInputRejected, SecretRejected) as error:
            return error.reply
        except ButtonNotFound:
            return say("button_expired")
        return render(exchange.outgoing)

    async def conversation_for(self, openid: str) -> ConversationView:
        customer_id = await run_in_threadpool(self.binder.customer_for, CHANNEL, openid)
        return await run_in_threadpool(self.chat.store.open_conversation, channel=CHANNEL, external_id=openid, customer_id=customer_id)

    async def _bind(self, openid: str, code: str) -> str:
        try:
            await run_in_threadpool(self.binder.redeem, CHANNEL, openid, code)
        except BindCodeInvalid as error:
            return say("wechat_bind_invalid", attempts_left=error.attempts_left)
        except BindAttemptsExceeded as error:
            self.chat.security_events.record("bind_throttled", channel=CHANNEL, detail="all chats" if error.everyone else f"user {openid}")
            return say("wechat_bind_too_many", retry_after=format_local_time(error.retry_after))
        return say("wechat_bind_done")

    async def _option(self, conversation: ConversationView, text: str) -> tuple[int, str] | None:
        """A bare number that picks a button of the latest bot or gateway message: (message id, button id)."""
        if not OPTION_NUMBER.match(text):
            return None
        message_id, buttons = await run_in_threadpool(self._latest_bot_buttons, conversation.id)
        number = int(text)
        if not 1 <= number <= len(buttons):
            return None
        return message_id, buttons[number - 1]["id"]

    def _latest_bot_buttons(self, conversation_id: str) -> tuple[int, list[dict]]:
        """The options the customer was last shown: of the messages since their last one, the latest
        with buttons (as `render` numbered them)."""
        with self._sessions() as session:
            last_customer = session.scalar(
                select(func.max(ChatMessage.id)).where(ChatMessage.conversation_id == conversation_id, ChatMessage.sender == "customer")
            ) or 0
            rows = session.scalars(
                select(ChatMessage)
                .where(ChatMessage.conversation_id == conversation_id, ChatMessage.sender.in_(OPTION_SENDERS),
                       ChatMessage.id > last_customer)
                .order_by(ChatMessage.id.desc())
            ).all()
            row = next((r for r in rows if r.buttons), None)
            return (row.id, list(row.buttons or ())) if row is not None else (0, [])

    # -- outbound: the customer-service message API

    async def deliver(self, conversation: ConversationView, message: MessageView) -> None:
        """Push a message to the customer outside a request (agent replies, queue updates)."""
        if conversation.channel == CHANNEL:
            await self.send(conversation.external_id, split_text(render([message])))

    async def send(self, openid: str, pieces: Sequence[str]) -> None:
        """Send pieces in order; give up (logged) on an error WeChat will not change its mind about."""
        lock = self._send_locks.setdefault(openid, asyncio.Lock())
        self._send_holders[openid] += 1
        try:
            async with lock:  # one customer's messages go out one at a time, in order
                await self._send_pieces(openid, pieces)
        finally:
            self._send_holders[openid] -= 1
            if not self._send_holders[openid]:
                del self._send_holders[openid], self._send_locks[openid]

    async def _send_pieces(self, openid: str, pieces: Sequence[str]) -> None:
        for piece in pieces:
            for attempt in range(1, SEND_ATTEMPTS_MAX + 1):
                try:
                    await self.api.send_text(openid, piece)
                    break
                except WeChatApiUnavailable as error:
                    if attempt == SEND_ATTEMPTS_MAX:
                        log.error("wechat customer-service message not sent: %s", error)
                        return
                    await asyncio.sleep(SEND_RETRY_PAUSE_S * attempt)
                except WeChatApiError as error:
                    log.error("wechat customer-service message refused: errcode %s", error.errcode)
                    return

    # -- the HTTP edge

    def passive_reply(self, message, text: str, *, encrypted: bool, nonce: str, timestamp: str) -> str:
        xml = create_reply(_passive_text(text), message).render()
        return self.crypto.encrypt_message(xml, nonce, timestamp) if encrypted else xml


def wechat_router(settings: Settings, session_factory=None) -> APIRouter:
    """`GET, POST /wechat`, with a lifespan that builds the channel once the gateway's ChatService exists."""

    @asynccontextmanager
    async def lifespan(app):
        from bot.db import get_session_factory

        sessions = session_factory or get_session_factory()
        http = httpx.AsyncClient(timeout=API_TIMEOUT_S)
        logging.getLogger("httpx").addFilter(REDACT_SECRETS)  # the same filter once, however many apps
        api = CustomerServiceApi(settings.wechat_api_base_url, settings.wechat_app_id, settings.wechat_app_secret, http)
        chat: ChatService = app.state.chat
        channel = WeChatChannel(settings, chat, Binder(sessions, settings.secret, failures_per_hour_max=settings.bind_failures_per_hour_max), Inbox(sessions, settings.secret), api, sessions)
        register = getattr(chat, "register_channel", None)
        if callable(register):
            register(CHANNEL, channel.deliver)
        app.state.wechat = channel
        await channel.recover()
        await run_in_threadpool(channel.inbox.prune)  # rows older than a day (nonces and messages)
        try:
            yield
        finally:
            await channel.close()
            await http.aclose()

    router = APIRouter(prefix="/wechat", lifespan=lifespan, include_in_schema=False)

    @router.get("")
    async def verify_url(request: Request) -> Response:
        """WeChat's URL verification: echo `echostr` when the signature is right."""
        query = request.query_params
        if not signature_is_valid(settings.wechat_token, query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", "")):
            request.app.state.chat.security_events.record("bad_signature", channel=CHANNEL, detail="URL verification")
            return Response(status_code=403)
        return PlainTextResponse(query.get("echostr", ""))

    @router.post("")
    async def receive(request: Request) -> Response:
        deadline = asyncio.get_running_loop().time() + settings.wechat_reply_deadline_s
        query = request.query_params
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        events = request.app.state.chat.security_events
        if not signature_is_valid(settings.wechat_token, query.get("signature", ""), timestamp, nonce):
            events.record("bad_signature", channel=CHANNEL, detail="URL signature")
            return Response(status_code=403)
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        if not encrypted and settings.wechat_encoding_mode == "safe":
            events.record("plaintext_refused", channel=CHANNEL, detail="no encrypt_type=aes")
            return Response(status_code=400)
        try:
            channel: WeChatChannel = request.app.state.wechat
            body = await request.body()
            if len(body) > BODY_BYTES_MAX:
                return Response(status_code=413)
            if encrypted:
                if channel.crypto is None:
                    log.error("wechat sent an encrypted message but WECHAT_AES_KEY is not set")
                    return PlainTextResponse(SUCCESS)
                try:
                    body = channel.crypto.decrypt_message(body, query.get("msg_signature", ""), timestamp, nonce)
                except (KeyError, TypeError):  # parsed, but no <Encrypt> element: a body in clear
                    events.record("plaintext_refused", channel=CHANNEL, detail="no Encrypt element")
                    return Response(status_code=400)
            if not await run_in_threadpool(channel.inbox.first_time, NONCE_CHANNEL, nonce_key(timestamp, nonce)):
                events.record("replay", channel=CHANNEL, detail=f"timestamp {timestamp} and nonce used before")
                return Response(status_code=403)
            message = parse_message(body)
            if message is None:
                return PlainTextResponse(SUCCESS)
            outcome = await channel.respond(message, deadline, body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
            if outcome.reply is None:
                return PlainTextResponse(SUCCESS)
            xml = channel.passive_reply(message, outcome.reply, encrypted=encrypted, nonce=nonce, timestamp=timestamp)
        except (InvalidSignatureException, InvalidAppIdException) as error:
            events.record("bad_signature", channel=CHANNEL, detail=type(error).__name__)
            return Response(status_code=403)
        except Exception as error:  # WeChat gets no 500, the log no message text
            log.error("wechat request failed: %s", _where(error))
            return PlainTextResponse(SUCCESS)
        follow_up = BackgroundTask(channel.send, message.source, outcome.follow_up) if outcome.follow_up else None
        return Response(xml, media_type="application/xml", background=follow_up)

    return router
