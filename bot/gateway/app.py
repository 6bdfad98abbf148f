"""The gateway: the only process customers and agents talk to.

Routes (see README): `/healthz`, the web chat page and its JSON API under `/api/chat/`.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.masking import install_log_masking
from bot.gateway import console
from bot.gateway.chat import ChatInputRejected, ChatService
from bot.gateway.hub import Hub
from bot.gateway.login_guard import LoginGuard
from bot.gateway.rasa_client import RasaClient
from bot.gateway.ratelimit import RateLimitMiddleware
from bot.gateway.secure import SecretRejected
from bot.security_events import PROMETHEUS_CONTENT_TYPE
from bot.gateway.telegram import router as telegram_router, start_telegram, stop_telegram
from bot.phrases import say
from bot.handoff import ButtonNotFound, ChatStore, ConversationView
from bot.identity import IdentityError, _sign, read_app_token
from bot.settings import Settings, get_settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
VISITOR_COOKIE = "wb_visitor"
SSE_KEEPALIVE_S = 15.0
ROW_ID_MAX = 2**63 - 1  # the largest id SQL databases store: a larger one is a 422, not an overflow
LAST_EVENT_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits only ("²".isdigit() is True, int("²") fails)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})  # who may read `GET /metrics`


@dataclass(frozen=True)
class Caller:
    customer_id: str | None
    external_id: str
    new_visitor_cookie: str | None = None


class ButtonClick(BaseModel):
    message_id: int = Field(ge=1, le=ROW_ID_MAX)
    id: str = Field(min_length=1, max_length=16)


class SecretIn(BaseModel):
    pin: str | None = Field(default=None, max_length=64)
    otp: str | None = Field(default=None, max_length=64)


class ErrorOut(BaseModel):
    """Every 4xx answer: why, in Chinese; a validation error also says where (never echoing the input)."""

    detail: str
    errors: list[dict] | None = None


# Published for every route, so that the OpenAPI schema describes the refusals clients really get.
ERROR_RESPONSES: dict = {"4XX": {"model": ErrorOut, "description": "Refused: `detail` says why, in Chinese"}}


class ChatMessageIn(BaseModel):
    text: str | None = Field(default=None, max_length=100_000)
    button: ButtonClick | None = None


def _visitor_cookie(secret: str, visitor_id: str) -> str:
    return f"{visitor_id}.{_sign(secret, 'visitor', visitor_id)}"


def _read_visitor_cookie(secret: str, value: str | None) -> str | None:
    if not value or "." not in value:
        return None
    visitor_id, _, signature = value.partition(".")
    if secrets.compare_digest(signature, _sign(secret, "visitor", visitor_id)):
        return visitor_id
    return None


def get_caller(request: Request, token: Annotated[str | None, Query(max_length=512)] = None) -> Caller:
    """Who is talking: a customer with a valid app token, else an anonymous visitor (cookie)."""
    settings: Settings = request.app.state.settings
    header = request.headers.get("authorization", "")
    raw = header[7:].strip() if header.lower().startswith("bearer ") else (token or "")
    if raw:
        try:
            customer_id = read_app_token(settings.secret, raw)
            return Caller(customer_id=customer_id, external_id=f"c:{customer_id}")
        except IdentityError:
            pass  # a bad token still gets FAQ answers, as a visitor
    visitor_id = _read_visitor_cookie(settings.secret, request.cookies.get(VISITOR_COOKIE))
    if visitor_id:
        return Caller(customer_id=None, external_id=f"v:{visitor_id}")
    visitor_id = secrets.token_hex(12)
    return Caller(customer_id=None, external_id=f"v:{visitor_id}", new_visitor_cookie=_visitor_cookie(settings.secret, visitor_id))


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_chat(request: Request) -> ChatService:
    return request.app.state.chat


ChatDep = Annotated[ChatService, Depends(get_chat)]


def opened_topic(caller: Caller) -> str:
    """The hub topic on which a caller's conversation is announced when their first message opens it."""
    return f"opened:{caller.external_id}"


async def open_conversation(chat: ChatService, caller: Caller, channel: str = "web") -> ConversationView:
    """The caller's conversation, created by their first message (and announced to their event stream)."""
    conversation = await run_in_threadpool(
        chat.store.open_conversation, channel=channel, external_id=caller.external_id, customer_id=caller.customer_id
    )
    chat.hub.publish(opened_topic(caller), "opened", {})
    return conversation


async def existing_conversation(chat: ChatService, caller: Caller, channel: str = "web") -> ConversationView | None:
    """The caller's conversation when they have written before; reading creates nothing (a client without
    cookies would otherwise add a row with every request)."""
    conversation = await run_in_threadpool(chat.store.find_conversation, channel=channel, external_id=caller.external_id)
    if conversation is not None and conversation.customer_id != caller.customer_id:
        return await open_conversation(chat, caller, channel)
    return conversation


async def conversation_awaiting_secret(chat: ChatService, caller: Caller) -> ConversationView:
    """The conversation a PIN or SMS code may answer: none before the caller's first message."""
    conversation = await existing_conversation(chat, caller)
    if conversation is None:
        raise SecretRejected(say("secret_not_expected"), status_code=409)
    return conversation


def _json(body: dict, caller: Caller, status_code: int = 200) -> JSONResponse:
    response = JSONResponse(body, status_code=status_code)
    if caller.new_visitor_cookie:
        response.set_cookie(VISITOR_COOKIE, caller.new_visitor_cookie, httponly=True, samesite="lax", max_age=30 * 86400)
    return response


def create_app(settings: Settings | None = None, *, session_factory=None) -> FastAPI:
    settings = settings or get_settings()
    install_log_masking()  # ID, card and phone numbers masked in every log line, as in transcripts

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        factory = session_factory
        if factory is None:
            from bot.db import get_session_factory

            factory = get_session_factory()
        rasa = RasaClient(
            settings.rasa_urls or settings.rasa_url, timeout_s=settings.rasa_timeout_s,
            auth_token=settings.rasa_api_token, channel_key=settings.rasa_channel_key,
        )
        app.state.http = httpx.AsyncClient(timeout=2.0)
        app.state.chat = ChatService(settings, ChatStore(factory), rasa, Hub(), factory, http=app.state.http)
        app.state.telegram = await start_telegram(settings, app.state.chat, factory)
        try:
            yield
        finally:
            await stop_telegram(app.state.telegram)
            await rasa.close()
            await app.state.http.aclose()

    app = FastAPI(title="walletbot gateway", version="0.1.0", lifespan=lifespan, responses=ERROR_RESPONSES)
    app.state.settings = settings
    app.state.login_guard = LoginGuard(settings)  # agent sign-in throttles per client IP and per username
    app.add_middleware(RateLimitMiddleware, settings=settings)  # 429 for too many chat messages or PINs
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(console.router)  # the agent console: /console/ and /api/agent/*
    app.include_router(telegram_router)
    if settings.wechat_token:
        from bot.gateway.wechat import wechat_router

        app.include_router(wechat_router(settings, session_factory))

    @app.exception_handler(ChatInputRejected)
    async def rejected(request: Request, exc: ChatInputRejected) -> JSONResponse:
        return JSONResponse({"detail": exc.reply}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in error.items() if k in ("type", "loc", "msg")} for error in exc.errors()]  # never echo the input
        return JSONResponse({"detail": say("bad_request"), "errors": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(SecretRejected)
    async def secret_rejected(request: Request, exc: SecretRejected) -> JSONResponse:
        return JSONResponse({"detail": exc.reply}, status_code=exc.status_code)

    @app.exception_handler(ButtonNotFound)
    async def button_not_found(request: Request, exc: ButtonNotFound) -> JSONResponse:
        return JSONResponse({"detail": say("button_expired")}, status_code=404)

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        chat: ChatService = request.app.state.chat
        http: httpx.AsyncClient = request.app.state.http

        async def actions_up() -> bool:
            try:
                return (await http.get(f"{settings.actions_url}/health")).status_code == 200
            except httpx.HTTPError:
                return False

        rasa_ok, actions_ok = await asyncio.gather(chat.rasa.is_up(), actions_up())
        body = {"gateway": "ok", "rasa": "ok" if rasa_ok else "down", "actions": "ok" if actions_ok else "down"}
        return JSONResponse(body, status_code=200 if rasa_ok and actions_ok else 503)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=console.PAGE_HEADERS)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Security-event counters in Prometheus' text format, for the loopback only (404 for anyone else)."""
        if request.client is None or request.client.host not in LOOPBACK_HOSTS:
            return Response(status_code=404)
        return PlainTextResponse(request.app.state.chat.security_events.prometheus_text(), media_type=PROMETHEUS_CONTENT_TYPE)

    @app.post("/api/chat/messages")
    async def post_message(body: ChatMessageIn, caller: CallerDep, chat: ChatDep) -> JSONResponse:
        conversation = await open_conversation(chat, caller)
        if body.button is not None:
            exchange = await chat.handle_button(conversation, body.button.message_id, body.button.id)
        else:
            exchange = await chat.handle_text(conversation, body.text)
        return _json(
            {
                "conversation_id": conversation.id,
                "customer_message": exchange.customer_message.public(),
                "messages": [message.public() for message in exchange.replies],
            },
            caller,
        )

    @app.post("/api/chat/pin")
    async def post_secret(body: SecretIn, caller: CallerDep, chat: ChatDep) -> JSONResponse:
        """The secure answer to a PIN or SMS-code request: verified here, never forwarded to Rasa."""
        if (body.pin is None) == (body.otp is None):
            return _json({"detail": say("bad_request")}, caller, status_code=422)
        conversation = await conversation_awaiting_secret(chat, caller)
        kind, value = ("pin", body.pin) if body.pin is not None else ("otp", body.otp)
        replies = await chat.submit_secret(conversation, kind, value or "")
        return _json({"conversation_id": conversation.id, "messages": [m.public() for m in replies]}, caller)

    @app.post("/api/chat/otp/resend")
    async def resend_otp(caller: CallerDep, chat: ChatDep) -> JSONResponse:
        """A fresh SMS code for the transfer awaiting one (at most one a minute, five a day)."""
        conversation = await conversation_awaiting_secret(chat, caller)
        replies = await chat.resend_otp(conversation)
        return _json({"conversation_id": conversation.id, "messages": [m.public() for m in replies]}, caller)

    @app.get("/api/chat/messages")
    async def get_messages(caller: CallerDep, chat: ChatDep, after: Annotated[int, Query(ge=0, le=ROW_ID_MAX)] = 0) -> JSONResponse:
        conversation = await existing_conversation(chat, caller)
        if conversation is None:
            return _json({"conversation_id": None, "state": "bot", "messages": []}, caller)
        messages = await run_in_threadpool(chat.store.messages_after, conversation.id, after)
        return _json(
            {"conversation_id": conversation.id, **(await chat.handoff.public_state(conversation.id)), "messages": [m.public() for m in messages]},
            caller,
        )

    @app.get("/api/chat/events")
    async def events(request: Request, caller: CallerDep, chat: ChatDep, after: Annotated[int, Query(ge=0, le=ROW_ID_MAX)] = 0) -> Response:
        last_event_id = request.headers.get("last-event-id", "")
        if last_event_id:
            if not LAST_EVENT_ID.fullmatch(last_event_id) or int(last_event_id) > ROW_ID_MAX:
                return _json({"detail": say("bad_last_event_id")}, caller, status_code=400)
            after = max(after, int(last_event_id))
        # Before the caller's first message there is no conversation: the stream waits for it to be opened.
        opened = chat.hub.subscribe(opened_topic(caller))
        conversation = await existing_conversation(chat, caller)
        queue = chat.hub.subscribe(conversation.id) if conversation is not None else None

        async def stream():
            nonlocal conversation, queue
            try:
                if conversation is None:
                    yield _sse("state", {"state": "bot"})
                while conversation is None:
                    if await request.is_disconnected():
                        return
                    try:
                        await asyncio.wait_for(opened.get(), SSE_KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    conversation = await existing_conversation(chat, caller)
                    if conversation is not None:
                        queue = chat.hub.subscribe(conversation.id)  # before reading history: nothing is missed
                chat.hub.unsubscribe(opened_topic(caller), opened)
                seen = after
                for message in await run_in_threadpool(chat.store.messages_after, conversation.id, after):
                    seen = message.id
                    yield _sse("message", message.public(), message.id)
                yield _sse("state", await chat.handoff.public_state(conversation.id))
                while not await request.is_disconnected():
                    try:
                        event, data = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event == "message":
                        if data["id"] <= seen:
                            continue
                        seen = data["id"]
                        yield _sse(event, data, data["id"])
                    else:
                        yield _sse(event, data)
            finally:
                chat.hub.unsubscribe(opened_topic(caller), opened)
                if queue is not None:
                    chat.hub.unsubscribe(conversation.id, queue)

        response = StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        if caller.new_visitor_cookie:
            response.set_cookie(VISITOR_COOKIE, caller.new_visitor_cookie, httponly=True, samesite="lax", max_age=30 * 86400)
        return response

    return app


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
