"""Telegram: a python-telegram-bot 22 application inside the gateway.

On when `TELEGRAM_TOKEN` is set. Webhook mode when `TELEGRAM_WEBHOOK_URL` is set (Telegram posts to
`POST /telegram/webhook`, authenticated by `X-Telegram-Bot-Api-Secret-Token`), polling otherwise;
`TELEGRAM_API_BASE_URL` points the bot at a local Bot API server (the tests' fake).

Every update is written to the inbox (`bot.dedupe.Inbox`, sealed) before it is acknowledged — in
webhook mode before the 200, in polling mode before the next `getUpdates` — and marked done once
handled, so a repeat is dropped and an update a killed gateway accepted but never answered is handled
by the next one at startup (what the dead one had stored and not sent is delivered, not run again).
Then thin handlers map the chat to a conversation and call `ChatService`:

* text → `handle_text`; a 6-digit PIN or SMS code typed while one is awaited is deleted from the chat
  first, and goes to the secure path, never to Rasa or the transcript;
* an inline button → callback data `b:{message_id}:{button_id}` → `handle_button`; always answered;
* `/start` (`/help`), `/bind CODE`, `/unbind` → `bot.binding`; the code is never stored or logged.

Only private chats are served, so a balance never lands in a group. One chat's updates are handled
one at a time and in order; different chats concurrently.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import traceback
from collections import Counter

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.binding import BIND_CODE_DIGITS, BindAttemptsExceeded, BindCodeInvalid, Binder
from bot.dedupe import Inbox
from bot.gateway.chat import ChatInputRejected, ChatService
from bot.gateway.secure import SecretRejected
from bot.secret_text import named_secret, six_digit_runs
from bot.handoff import ButtonNotFound, ConversationView, MessageView
from bot.phrases import say
from bot.settings import Settings
from bot.wallet.messages import format_local_time

log = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]
TEXT_CHARS_MAX = int(MessageLimit.MAX_TEXT_LENGTH)  # counted in UTF-16 code units, as Telegram does
CALLBACK_DATA_BYTES_MAX = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)
WEBHOOK_BODY_BYTES_MAX = 1_000_000
CONCURRENT_UPDATES_MAX = 32
CALLBACK_DATA = re.compile(r"^b:(\d{1,18}):(b\d{1,3})$")
SPLIT_AFTER = ("\n", "。", "！", "？", "；", "，", " ")

PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


class TelegramMisconfigured(RuntimeError):
    """The Telegram settings cannot work together (the gateway refuses to start)."""


# ---------------------------------------------------------------- pure helpers


def callback_data(message_id: int, button_id: str) -> str:
    data = f"b:{message_id}:{button_id}"
    if len(data.encode()) > CALLBACK_DATA_BYTES_MAX or not CALLBACK_DATA.match(data):
        raise ValueError(f"callback data {data!r} does not fit Telegram's {CALLBACK_DATA_BYTES_MAX} bytes")
    return data


def parse_callback_data(data: str | None) -> tuple[int, str] | None:
    match = CALLBACK_DATA.match(data or "")
    return (int(match[1]), match[2]) if match else None


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _longest_prefix(text: str, units_max: int) -> int:
    """The largest i such that text[:i] takes at most `units_max` UTF-16 code units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > units_max:
            return index
    return len(text)


def split_message(text: str, units_max: int = TEXT_CHARS_MAX) -> list[str]:
    """Pieces of at most `units_max` UTF-16 units, cut after a line, sentence or comma when one is near."""
    pieces: list[str] = []
    rest = text
    while _utf16_units(rest) > units_max:
        cut = _longest_prefix(rest, units_max)
        for separator in SPLIT_AFTER:
            at = rest.rfind(separator, 0, cut)
            if at >= cut // 2:
                cut = at + 1
                break
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n")
        if piece:
            pieces.append(piece)
    if rest.strip():
        pieces.append(rest)
    return pieces


def text_for_telegram(message: MessageView) -> str:
    """What the customer reads: a PIN or code request says to type the digits here."""
    custom = message.custom or {}
    if custom.get("type") == "pin_request":
        hint = say("telegram_otp_hint" if custom.get("kind") == "otp" else "telegram_pin_hint")
        if not message.text or message.text in (say("pin_prompt"), say("otp_prompt")):
            return hint  # the web's wording mentions the secure keypad, which Telegram has not
        return f"{message.text}\n{hint}"
    if not message.text and message.buttons:
        return say("telegram_choose")
    return message.text


def keyboard_for(message: MessageView) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b["title"], callback_data=callback_data(message.id, b["id"]))] for b in message.buttons]
    )


class PerChatOrder(BaseUpdateProcessor):
    """Updates of different chats run concurrently; one chat's run one at a time, in arrival order."""

    def __init__(self, max_concurrent_updates: int, finished=None) -> None:
        super().__init__(max_concurrent_updates)
        self._finished = finished  # awaited with each update once it has been handled
        self._locks: dict[int | None, asyncio.Lock] = {}
        self._holders: Counter[int | None] = Counter()

    async def do_process_update(self, update: object, coroutine) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat else None
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._holders[key] += 1
        try:
            async with lock:
                await coroutine
            if self._finished is not None and isinstance(update, Update):
                await self._finished(update)
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:
                del self._holders[key], self._locks[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class _RedactToken(logging.Filter):
    """httpx logs request URLs, and Bot API URLs carry the bot token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<telegram-token>"), ()
        return True


def _file_url(base_url: str) -> str:
    return base_url[: -len("/bot")] + "/file/bot" if base_url.endswith("/bot") else base_url


# ---------------------------------------------------------------- the channel


class TelegramChannel:
    def __init__(self, settings: Settings, chat: ChatService, binder: Binder, inbox: Inbox) -> None:
        if settings.telegram_webhook_url and not settings.telegram_secret_token:
            raise TelegramMisconfigured("TELEGRAM_WEBHOOK_URL is set but TELEGRAM_SECRET_TOKEN is not")
        self.settings = settings
        self.chat = chat
        self.binder = binder
        self.inbox = inbox
        self._accepted: set[int] = set()  # update ids written to the inbox by this process, not yet handled
        self.webhook_mode = bool(settings.telegram_webhook_url)
        builder = Application.builder().token(settings.telegram_token).concurrent_updates(PerChatOrder(CONCURRENT_UPDATES_MAX, self._finished))
        if settings.telegram_api_base_url:
            base_url = settings.telegram_api_base_url
            builder = builder.base_url(base_url).base_file_url(_file_url(base_url))
        if self.webhook_mode:
            builder = builder.updater(None)  # our own route feeds the update queue
        self.application = builder.build()
        self._add_handlers()

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(TypeHandler(Update, self.drop_repeats), group=-1)
        app.add_handler(CommandHandler(["start", "help"], self.on_start, filters=PRIVATE))
        app.add_handler(CommandHandler("bind", self.on_bind, filters=PRIVATE))
        app.add_handler(CommandHandler("unbind", self.on_unbind, filters=PRIVATE))
        app.add_handler(MessageHandler(PRIVATE & filters.TEXT, self.on_text))
        app.add_handler(MessageHandler(PRIVATE & ~filters.TEXT, self.on_not_text))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & ~filters.ChatType.PRIVATE & filters.COMMAND, self.on_group_command))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_error_handler(self.on_error)

    # -- lifecycle

    async def start(self) -> None:
        logging.getLogger("httpx").addFilter(_RedactToken(self.settings.telegram_token))
        await self.application.initialize()
        if self.webhook_mode:
            await self.application.bot.set_webhook(
                self.settings.telegram_webhook_url, secret_token=self.settings.telegram_secret_token, allowed_updates=ALLOWED_UPDATES
            )
        else:
            await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        await self.application.start()
        await self._recover()
        await run_in_threadpool(self.inbox.prune)  # rows older than a day: repeats that late are not expected
        register = getattr(self.chat, "register_channel", None)
        if callable(register):
            register(CHANNEL, self.deliver)
        log.info("telegram started as @%s (%s mode)", self.application.bot.username, "webhook" if self.webhook_mode else "polling")

    async def stop(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    # -- webhook

    def secret_matches(self, header: str | None) -> bool:
        expected = self.settings.telegram_secret_token.encode()
        return bool(header) and secrets.compare_digest(header.encode(), expected)

    async def accept_webhook(self, body: bytes) -> int:
        """Queue one update posted by Telegram; the HTTP status to answer (the secret is already checked)."""
        if len(body) > WEBHOOK_BODY_BYTES_MAX:
            return 413
        try:
            update = Update.de_json(json.loads(body), self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return 400
        if await run_in_threadpool(self.inbox.receive, CHANNEL, str(update.update_id), json.dumps(update.to_dict(), ensure_ascii=False)):
            self._accepted.add(update.update_id)
            await self.application.update_queue.put(update)
        else:
            log.info("telegram update %s repeated: dropped", update.update_id)
        return 200

    async def _recover(self) -> None:
        """Queue the updates a killed gateway had accepted and not handled (oldest first)."""
        for orphan in await run_in_threadpool(self.inbox.orphans, CHANNEL):
            try:
                update = Update.de_json(json.loads(orphan.body), self.application.bot)
            except (ValueError, TypeError, KeyError, AttributeError):
                await run_in_threadpool(self.inbox.done, CHANNEL, orphan.key)
                continue
            log.info("telegram update %s accepted by an earlier gateway and not handled: handling it now", update.update_id)
            self._accepted.add(update.update_id)
            await self.application.update_queue.put(update)

    async def _finished(self, update: Update) -> None:
        self._accepted.discard(update.update_id)
        await run_in_threadpool(self.inbox.done, CHANNEL, str(update.update_id))

    # -- outbound

    async def deliver(self, conversation: ConversationView, message: MessageView) -> None:
        """Push a message to the customer outside a request (agent replies, queue updates)."""
        if conversation.channel == CHANNEL:
            await self.send(int(conversation.external_id), message)

    async def send(self, chat_id: int, message: MessageView) -> None:
        text = text_for_telegram(message)
        if not text:
            return
        pieces = split_message(text)
        markup = keyboard_for(message)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            await self.application.bot.send_message(chat_id, piece, reply_markup=markup if last else None)

    async def say(self, chat_id: int, key: str, **values: object) -> None:
        await self.application.bot.send_message(chat_id, say(key, **values))

    # -- handlers

    async def drop_repeats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Polling mode's inbox write (the webhook wrote it already, and so did recovery)."""
        if update.update_id in self._accepted:
            return
        body = json.dumps(update.to_dict(), ensure_ascii=False)
        if not await run_in_threadpool(self.inbox.receive, CHANNEL, str(update.update_id), body):
            log.info("telegram update %s repeated: dropped", update.update_id)
            raise ApplicationHandlerStop

    async def conversation_for(self, update: Update) -> ConversationView:
        customer_id = await run_in_threadpool(self.binder.customer_for, CHANNEL, str(update.effective_user.id))
        return await run_in_threadpool(
            self.chat.store.open_conversation, channel=CHANNEL, external_id=str(update.effective_chat.id), customer_id=customer_id
        )

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.say(update.effective_chat.id, "telegram_start")

    async def on_bind(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat_id, user_id = update.effective_chat.id, str(update.effective_user.id)
        args = context.args or []
        if len(args) != 1 or not (args[0].isascii() and args[0].isdigit() and len(args[0]) == BIND_CODE_DIGITS):
            await self.say(chat_id, "telegram_bind_usage")
            return
        try:
            await run_in_threadpool(self.binder.redeem, CHANNEL, user_id, args[0])
        except BindCodeInvalid as error:
            await self.say(chat_id, "telegram_bind_invalid", attempts_left=error.attempts_left)
        except BindAttemptsExceeded as error:
            self.chat.security_events.record("bind_throttled", channel=CHANNEL, detail="all chats" if error.everyone else f"user {user_id}")
            await self.say(chat_id, "telegram_bind_too_many", retry_after=format_local_time(error.retry_after))
        else:
            await self.say(chat_id, "telegram_bind_done")

    async def on_unbind(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        unbound = await run_in_threadpool(self.binder.unbind, CHANNEL, str(update.effective_user.id))
        await self.say(update.effective_chat.id, "telegram_unbind_done" if unbound else "telegram_unbind_none")

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        conversation = await self.conversation_for(update)
        if named_secret(message.text) or (conversation.awaiting_secret and six_digit_runs(message.text)):
            await self._delete(message)  # first: a PIN stays on screen no longer than it must
        if not await self._resumed(update, conversation):
            await self._exchange(message.chat_id, self.chat.handle_text(conversation, message.text))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        try:
            await query.answer()
        except TelegramError as error:  # too old to answer: still handle the click
            log.info("callback query not answered: %s", type(error).__name__)
        if update.effective_chat is None or update.effective_chat.type != "private":
            return
        clicked = parse_callback_data(query.data)
        if clicked is None:
            await self.say(update.effective_chat.id, "button_expired")
            return
        if isinstance(query.message, Message):
            try:
                await query.edit_message_reply_markup(reply_markup=None)  # one click per keyboard
            except TelegramError as error:
                log.info("keyboard not removed: %s", type(error).__name__)
        conversation = await self.conversation_for(update)
        if not await self._resumed(update, conversation):
            await self._exchange(update.effective_chat.id, self.chat.handle_button(conversation, *clicked))

    async def on_not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.say(update.effective_chat.id, "telegram_text_only")

    async def on_group_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.say(update.effective_chat.id, "telegram_private_only")

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log what failed and where, never the message text (it may hold a PIN or a bind code)."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        frames = "".join(traceback.format_tb(error.__traceback__)) if error else ""
        log.error("telegram update %s failed: %s\n%s", update_id, type(error).__name__, frames)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None and chat.type == "private":
            try:
                await self.say(chat.id, "telegram_error")
            except TelegramError:
                pass

    # -- edges

    async def _resumed(self, update: Update, conversation: ConversationView) -> bool:
        """True when a killed gateway had begun this update: what it stored is sent instead of a second turn."""
        resumed = await run_in_threadpool(self.inbox.begin, CHANNEL, str(update.update_id), conversation.id)
        if resumed is None:
            return False
        for reply in await self.chat.resume(conversation, resumed):
            await self.send(update.effective_chat.id, reply)
        return True

    async def _exchange(self, chat_id: int, call) -> None:
        """Await a ChatService call and send its replies; the service's refusals become one Chinese reply."""
        try:
            exchange = await call
        except (ChatInputRejected, SecretRejected) as error:
            await self.application.bot.send_message(chat_id, error.reply)
            return
        except ButtonNotFound:
            await self.say(chat_id, "button_expired")
            return
        for reply in exchange.outgoing:
            await self.send(chat_id, reply)

    async def _delete(self, message: Message) -> None:
        try:
            await message.delete()
        except TelegramError as error:
            log.warning("could not delete a secret message in chat %s: %s", message.chat_id, type(error).__name__)


# ---------------------------------------------------------------- gateway wiring

router = APIRouter()


@router.post("/telegram/webhook", include_in_schema=False)
async def telegram_webhook(request: Request) -> Response:
    channel: TelegramChannel | None = getattr(request.app.state, "telegram", None)
    if channel is None or not channel.webhook_mode:
        return Response(status_code=404)
    if not channel.secret_matches(request.headers.get(SECRET_HEADER)):
        channel.chat.security_events.record("bad_signature", channel=CHANNEL, detail="wrong webhook secret token")
        return Response(status_code=403)
    return Response(status_code=await channel.accept_webhook(await request.body()))


async def start_telegram(settings: Settings, chat: ChatService, session_factory) -> TelegramChannel | None:
    """The running channel when `TELEGRAM_TOKEN` is set; None when it is not, or Telegram cannot be reached."""
    if not settings.telegram_token:
        return None
    channel = TelegramChannel(settings, chat, Binder(session_factory, settings.secret, failures_per_hour_max=settings.bind_failures_per_hour_max), Inbox(session_factory, settings.secret))
    try:
        await channel.start()
    except TelegramError as error:
        log.error("telegram not started (the gateway runs without it): %s", type(error).__name__)
        await channel.stop()
        return None
    return channel


async def stop_telegram(channel: TelegramChannel | None) -> None:
    if channel is not None:
        await channel.stop()
