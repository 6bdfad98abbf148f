"""The customer's side of each channel: web chat, Telegram (webhook updates to the gateway, replies
read from the fake Bot API) and WeChat (signed XML to the gateway, replies passive or through the fake
customer-service API).

Each client sends what the customer does and returns a `Delivery`: what the channel showed the
customer, and an error when the gateway refused (a non-2xx answer) or never answered. A transport
failure (the gateway unreachable) raises `ChannelBroken`, which ends the case.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field

import httpx

from bot.binding import Binder
from bot.identity import issue_app_token
from tests.conversations import reference as ref
from tests.conversations.presses import Target
from tests.conversations.stack import TELEGRAM_SECRET, CorpusStack
from tests.telegram.fake_bot_api import button_click, message

TURN_TIMEOUT_S = 30.0  # the longest a customer waits for an answer before the turn counts as unanswered
QUIET_S = 0.4  # no further message for this long: the bot has finished answering
POLL_S = 0.05
ROUTED_AFTER_S = 0.3  # a message routed to an agent gets no answer: recognised after this long
LONG_PASSIVE_REPLY_BYTES = 1500  # a passive reply this long may continue through the customer-service API
_telegram_users = itertools.count(900_000_000 + secrets.randbelow(10_000_000) * 10)


class ChannelBroken(Exception):
    """The gateway could not be reached: the case cannot go on."""


@dataclass
class Delivery:
    seen: list[str] = field(default_factory=list)
    error: str | None = None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]


class WebChannel:
    """The app's online-service page: a signed-in customer's token, or a visitor's own cookie jar."""

    name = "web"

    def __init__(self, stack: CorpusStack, customer_id: str | None) -> None:
        headers = {"Authorization": f"Bearer {issue_app_token(stack.settings.secret, customer_id)}"} if customer_id else {}
        self.customer_id = customer_id
        self.http = httpx.Client(base_url=stack.gateway_url, timeout=TURN_TIMEOUT_S, headers=headers)

    def open(self) -> None:
        pass

    def external_id(self) -> str | None:
        if self.customer_id:
            return f"c:{self.customer_id}"
        cookie = self.http.cookies.get("wb_visitor")
        return f"v:{cookie.partition('.')[0]}" if cookie else None

    def _post(self, path: str, body: dict) -> Delivery:
        try:
            response = self.http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise ChannelBroken(f"POST {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 200:
            return Delivery([m.get("text") or "" for m in response.json().get("messages", [])])
        detail = _detail(response)
        return Delivery([detail], error=f"HTTP {response.status_code} on {path}: {detail}")

    def say(self, text: str) -> Delivery:
        return self._post("/api/chat/messages", {"text": text})

    def press(self, target: Target) -> Delivery:
        return self._post("/api/chat/messages", {"button": {"message_id": target.message.id, "id": target.button["id"]}})

    def secret(self, kind: str, value: str) -> Delivery:
        return self._post("/api/chat/pin", {kind: value})

    def mark(self) -> int:
        return 0

    def pushed_since(self, mark: int) -> list[str]:
        return []  # the page gets pushed messages over SSE; the runner reads them from the database

    def close(self) -> None:
        self.http.close()


class TelegramChannel:
    """A Telegram user in a private chat with the bot; Telegram posts their updates to the webhook."""

    name = "telegram"

    def __init__(self, stack: CorpusStack, customer_id: str | None) -> None:
        self.stack, self.customer_id = stack, customer_id
        self.fake = stack.telegram
        self.user_id = next(_telegram_users)
        self.http = httpx.Client(base_url=stack.gateway_url, timeout=TURN_TIMEOUT_S)

    def open(self) -> None:
        """Bind the customer's wallet with a one-time code from the app (a visitor stays unbound)."""
        if not self.customer_id:
            return
        code = Binder(self.stack.world.sessions, self.stack.settings.secret).issue_code(self.customer_id).code
        delivery = self._deliver(message(self.user_id, text=f"/bind {code}"))
        if not any(ref.phrase("telegram_bind_done") in text for text in delivery.seen):
            raise ChannelBroken(f"Telegram binding failed: {delivery.error or delivery.seen}")

    def external_id(self) -> str | None:
        return str(self.user_id)

    def say(self, text: str) -> Delivery:
        return self._deliver(message(self.user_id, text=text))

    def press(self, target: Target) -> Delivery:
        data = f"b:{target.message.id}:{target.button['id']}"
        shown = [c for c in self.fake.calls_since(0, method="sendMessage", chat_id=self.user_id)
                 if any(b.get("callback_data") == data for b in c.buttons)]
        if not shown:
            return Delivery(error=f"the button {target.button['title']!r} was never shown on Telegram")
        return self._deliver(button_click(self.user_id, data=data, message_id=shown[-1].message_id))

    def secret(self, kind: str, value: str) -> Delivery:
        return self.say(value)  # typed into the chat; the gateway catches it

    def mark(self) -> int:
        return self.fake.mark()

    def pushed_since(self, mark: int) -> list[str]:
        return [call.text for call in self.fake.calls_since(mark, method="sendMessage", chat_id=self.user_id)]

    def _deliver(self, update: dict) -> Delivery:
        mark, stored_mark = self.fake.mark(), self.stack.world.last_message_id()
        try:
            response = self.http.post("/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        except httpx.HTTPError as exc:
            raise ChannelBroken(f"POST /telegram/webhook: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            return Delivery(error=f"HTTP {response.status_code} on /telegram/webhook: {_detail(response)}")
        error = None if self._answered(mark, stored_mark) else f"no answer on Telegram within {TURN_TIMEOUT_S:.0f} s"
        try:
            self.fake.settle(chat_id=self.user_id, quiet_s=QUIET_S)
        except AssertionError as exc:
            error = str(exc)
        return Delivery(self.pushed_since(mark), error)

    def _answered(self, mark: int, stored_mark: int) -> bool:
        """Wait until the bot has answered, or the message went to an agent (who answers later)."""
        started = time.monotonic()
        while time.monotonic() - started < TURN_TIMEOUT_S:
            if self.fake.calls_since(mark, method="sendMessage", chat_id=self.user_id):
                return True
            if time.monotonic() - started > ROUTED_AFTER_S and self._routed_to_agent(stored_mark):
                return True
            time.sleep(POLL_S)
        return False

    def _routed_to_agent(self, stored_mark: int) -> bool:
        world = self.stack.world
        conversation_id = world.conversation_id(self.name, str(self.user_id))
        if conversation_id is None or world.handoff_state(conversation_id) not in ("queued", "assigned"):
            return False
        return any(m.sender == "customer" for m in world.messages(conversation_id, stored_mark))

    def close(self) -> None:
        self.http.close()


class WeChatChannel:
    """A follower of the official account; WeChat posts their messages to the gateway."""

    name = "wechat"

    def __init__(self, stack: CorpusStack, customer_id: str | None) -> None:
        self.stack, self.customer_id = stack, customer_id
        self.platform, self.api = stack.wechat, stack.wechat_api
        self.openid = f"o-corpus-{secrets.token_urlsafe(12)}"
        self.deadline_s = stack.settings.wechat_reply_deadline_s

    def open(self) -> None:
        if not self.customer_id:
            return
        code = Binder(self.stack.world.sessions, self.stack.settings.secret).issue_code(self.customer_id).code
        delivery = self._deliver(f"绑定 {code}")
        if not any(ref.phrase("wechat_bind_done") in text for text in delivery.seen):
            raise ChannelBroken(f"WeChat binding failed: {delivery.error or delivery.seen}")

    def external_id(self) -> str | None:
        return self.openid

    def say(self, text: str) -> Delivery:
        return self._deliver(text)

    def press(self, target: Target) -> Delivery:
        return self._deliver(str(target.index + 1))  # the customer replies the option's number

    def secret(self, kind: str, value: str) -> Delivery:
        return self._deliver(value)

    def mark(self) -> int:
        return len(self.api.texts_to(self.openid))

    def pushed_since(self, mark: int) -> list[str]:
        return self.api.texts_to(self.openid)[mark:]

    def _deliver(self, text: str) -> Delivery:
        mark, started = self.mark(), time.monotonic()
        try:
            reply = self.platform.say(self.openid, text)
        except httpx.HTTPError as exc:
            raise ChannelBroken(f"POST /wechat: {type(exc).__name__}: {exc}") from exc
        if reply.status_code != 200:
            return Delivery(error=f"HTTP {reply.status_code} on /wechat: {reply.body[:200]}")
        error = None
        if reply.text is None and time.monotonic() - started >= self.deadline_s - 0.25:
            # Not ready by WeChat's deadline: the answer comes through the customer-service API.
            if not self._wait_for_api(mark, TURN_TIMEOUT_S):
                error = f"no answer on WeChat within {TURN_TIMEOUT_S:.0f} s"
            self._settle(QUIET_S)
        elif reply.text is not None and len(reply.text.encode()) > LONG_PASSIVE_REPLY_BYTES:
            if self._wait_for_api(mark, QUIET_S * 2):  # the rest of a long answer follows the passive reply
                self._settle(QUIET_S)
        return Delivery(([reply.text] if reply.text else []) + self.pushed_since(mark), error)

    def _wait_for_api(self, mark: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pushed_since(mark):
                return True
            time.sleep(POLL_S)
        return False

    def _settle(self, quiet_s: float) -> None:
        count, quiet_since = self.mark(), time.monotonic()
        while time.monotonic() - quiet_since < quiet_s:
            time.sleep(POLL_S)
            if self.mark() != count:
                count, quiet_since = self.mark(), time.monotonic()

    def close(self) -> None:
        pass


CHANNELS = {"web": WebChannel, "telegram": TelegramChannel, "wechat": WeChatChannel}


def open_channel(name: str, stack: CorpusStack, customer_id: str | None):
    client = CHANNELS[name](stack, customer_id)
    client.open()
    return client
