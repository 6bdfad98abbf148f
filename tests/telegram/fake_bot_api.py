"""A fake Telegram Bot API server on 127.0.0.1 that the real python-telegram-bot application talks to.

It answers the methods walletbot uses (`getMe`, `getUpdates`, `sendMessage`, `deleteMessage`,
`answerCallbackQuery`, `editMessageReplyMarkup`, `setWebhook`, `deleteWebhook`), records every call,
queues updates for `getUpdates` per bot token, and can be told to fail a method. Small factories
build the updates Telegram would send.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

LONG_POLL_S_MAX = 1.0  # real Telegram holds getUpdates up to `timeout`; shorter keeps shutdowns quick


@dataclass(frozen=True)
class Call:
    token: str
    method: str
    params: dict
    seq: int
    result: object = None

    @property
    def chat_id(self) -> int | None:
        return _int_or_none(self.params.get("chat_id"))

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def message_id(self) -> int | None:
        """The id of the message this call sent (sendMessage), else of the message it names."""
        if isinstance(self.result, dict):
            return self.result["message_id"]
        return int(self.params["message_id"]) if "message_id" in self.params else None

    @property
    def buttons(self) -> list[dict]:
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class _Failure:
    method: str
    chat_id: int | None
    error_code: int
    description: str
    times: int


@dataclass
class FakeBotApi:
    port: int
    bot_id: int = 7000000001
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._updates: dict[str, list[dict]] = {}
        self._failures: list[_Failure] = []
        self._seq = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ control (called from tests)

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL is set to (python-telegram-bot appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> "FakeBotApi":
        app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="fake-bot-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Bot API server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def push_update(self, token: str, update: dict) -> None:
        """Queue an update for the bot with this token to fetch with getUpdates."""
        with self._lock:
            self._updates.setdefault(token, []).append(update)
            self._lock.notify_all()

    def fail(
        self, method: str, *, chat_id: int | None = None, error_code: int = 400,
        description: str = "Bad Request: injected by the test", times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` (to `chat_id`, when given) fail as Telegram would."""
        with self._lock:
            self._failures.append(_Failure(method, chat_id, error_code, description, times))

    def mark(self) -> int:
        """A point in the call log: `calls_since(mark)` sees only what came after it."""
        with self._lock:
            return self.calls[-1].seq if self.calls else 0

    def calls_since(self, mark: int = 0, *, method: str | None = None, token: str | None = None, chat_id: int | None = None) -> list[Call]:
        with self._lock:
            return [
                call
                for call in self.calls
                if call.seq > mark
                and (method is None or call.method == method)
                and (token is None or call.token == token)
                and (chat_id is None or call.chat_id == chat_id)
            ]

    def wait_for(self, predicate, *, timeout_s: float = 30.0) -> Call:
        """The first recorded call matching `predicate`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                for call in self.calls:
                    if predicate(call):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching Bot API call within {timeout_s} s; calls: {self.calls[-10:]}")
                self._lock.wait(remaining)

    def settle(self, *, chat_id: int, quiet_s: float = 0.3, timeout_s: float = 30.0) -> None:
        """Wait until no call about this chat has arrived for `quiet_s` (the bot has finished answering)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            seen, quiet_since = self._count(chat_id), time.monotonic()
            while time.monotonic() < deadline:
                left_s = quiet_since + quiet_s - time.monotonic()
                if left_s <= 0:
                    return
                self._lock.wait(left_s)
                if self._count(chat_id) != seen:
                    seen, quiet_since = self._count(chat_id), time.monotonic()
        raise AssertionError("the bot kept calling the Bot API")

    def _count(self, chat_id: int) -> int:
        return sum(1 for call in self.calls if call.chat_id == chat_id)

    # ------------------------------------------------------------ the server

    async def _endpoint(self, request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"]
        params = await _params(request)
        with self._lock:
            failure = next(
                (
                    f for f in self._failures
                    if f.method == method and f.times > 0 and f.chat_id in (None, _int_or_none(params.get("chat_id")))
                ),
                None,
            )
            if failure is not None:
                failure.times -= 1
        handler = getattr(self, f"_api_{method}", None)
        if failure is not None:
            status, body = failure.error_code, {"ok": False, "error_code": failure.error_code, "description": failure.description}
        elif handler is None:
            status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        else:
            status, body = 200, {"ok": True, "result": await handler(token, params)}
        with self._lock:
            self.calls.append(Call(token, method, params, next(self._seq), body.get("result")))
            self._lock.notify_all()
        return JSONResponse(body, status_code=status)

    def _bot_user(self) -> dict:
        return {"id": self.bot_id, "is_bot": True, "first_name": "钱包客服", "username": "walletbot_test_bot"}

    async def _api_getMe(self, token: str, params: dict) -> dict:
        return {**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _api_getUpdates(self, token: str, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), LONG_POLL_S_MAX)
        while True:
            with self._lock:
                queue = self._updates.setdefault(token, [])
                queue[:] = [u for u in queue if u["update_id"] >= offset]  # an offset confirms earlier ones
                if queue or time.monotonic() >= deadline:
                    return list(queue)
            await asyncio.sleep(0.05)

    async def _api_sendMessage(self, token: str, params: dict) -> dict:
        return self._message(params, text=params.get("text", ""))

    async def _api_editMessageReplyMarkup(self, token: str, params: dict) -> dict:
        return self._message(params, message_id=int(params["message_id"]))

    async def _api_deleteMessage(self, token: str, params: dict) -> bool:
        return True

    async def _api_answerCallbackQuery(self, token: str, params: dict) -> bool:
        return True

    async def _api_setWebhook(self, token: str, params: dict) -> bool:
        return True

    async def _api_deleteWebhook(self, token: str, params: dict) -> bool:
        return True

    def _message(self, params: dict, *, message_id: int | None = None, text: str | None = None) -> dict:
        message = {
            "message_id": message_id or next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": self._bot_user(),
        }
        if text is not None:
            message["text"] = text
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def _params(request: Request) -> dict:
    """python-telegram-bot posts form fields, with objects and lists as JSON strings."""
    body = (await request.body()).decode()
    if request.headers.get("content-type", "").startswith("application/json"):
        return json.loads(body or "{}")
    params: dict = dict(request.query_params)
    for key, value in parse_qsl(body, keep_blank_values=True):
        params[key] = json.loads(value) if value[:1] in "{[" and value else value
    return params


# ---------------------------------------------------------------- update factories

_update_ids = itertools.count(500_000)
_message_ids = itertools.count(1)


def next_update_id() -> int:
    return next(_update_ids)


def user(user_id: int) -> dict:
    return {"id": user_id, "is_bot": False, "first_name": "测试", "language_code": "zh-hans"}


def private_chat(chat_id: int) -> dict:
    return {"id": chat_id, "type": "private", "first_name": "测试"}


def message(user_id: int, *, text: str | None = None, chat: dict | None = None, update_id: int | None = None, **content) -> dict:
    """An update with a new message; commands get the bot_command entity Telegram adds."""
    body: dict = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat or private_chat(user_id),
        "from": user(user_id),
        **content,
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id or next_update_id(), "message": body}


def button_click(user_id: int, *, data: str, message_id: int, bot_id: int = 7000000001, update_id: int | None = None) -> dict:
    """An update for a click on an inline button of the bot's message `message_id`."""
    return {
        "update_id": update_id or next_update_id(),
        "callback_query": {
            "id": f"cbq-{next(_message_ids)}",
            "from": user(user_id),
            "chat_instance": f"ci-{user_id}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": private_chat(user_id),
                "from": {"id": bot_id, "is_bot": True, "first_name": "钱包客服", "username": "walletbot_test_bot"},
                "text": "…",
            },
        },
    }
