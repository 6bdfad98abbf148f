"""The agent console: its page at `/console/` and its JSON API under `/api/agent/`.

Sign-in sets an HttpOnly, SameSite=Strict session cookie and returns a CSRF token that every
state-changing call sends back in `X-CSRF-Token`. Each route parses, calls one desk or handoff
function, and replies; refusals are translated once, in `REFUSALS`, into a 4xx with a Chinese `detail`.

| route | does |
| --- | --- |
| `POST /api/agent/login` `{"username","password"}` | cookie + `{"csrf_token","agent"}`; 5 failures lock for 15 min, 20 from one IP make it wait (`LoginGuard`) |
| `POST /api/agent/logout` | ends the session; the agent's conversations go back to the queue |
| `GET /api/agent/me` | the agent and the session's CSRF token |
| `POST /api/agent/status` `{"status": "online" or "offline"}` | presence |
| `GET /api/agent/queue` | waiting and assigned conversations, agents, open tickets |
| `GET /api/agent/conversations/{id}` | transcript, notes, handoff, verified customer context |
| `POST /api/agent/conversations/{id}/claim` · `/messages` · `/notes` · `/transfer` · `/unlock-wallet` · `/resolve` | the agent's actions |
| `GET /api/agent/canned` | canned answers from the FAQ knowledge base |
| `GET /api/agent/tickets` · `POST /api/agent/tickets/{id}/close` | leave-a-message tickets |
| `GET /api/agent/events` | Server-Sent Events: `queue`, `message`, `note` |
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.gateway.desk import AGENTS_TOPIC, AgentActionRefused, HandoffDesk, _iso, note_body
from bot.gateway.login_guard import IpThrottled, LoginGuard
from bot.handoff import (
    AgentInvalid,
    AgentLockedOut,
    AgentNotFound,
    AgentOffline,
    CapacityReached,
    ConversationNotFound,
    HandoffError,
    LoginRejected,
    NotWaiting,
    NotYourConversation,
    SameAgent,
    SessionInvalid,
    TicketNotFound,
    agents,
    queue,
)
from bot.handoff.agents import AgentView
from bot.knowledge import get_knowledge_base
from bot.phrases import say
from bot.wallet.messages import format_local_time

CONSOLE_DIR = FilePath(__file__).resolve().parent / "static" / "console"
AGENT_COOKIE = "wb_agent"
CSRF_HEADER = "x-csrf-token"
SSE_KEEPALIVE_S = 15.0
SSE_SESSION_CHECK_S = 60.0
QUEUE_SWEEP_INTERVAL_S = 5.0
REASON_LABELS = {
    "fraud": "欺诈/盗刷",
    "wallet_locked": "钱包锁定",
    "customer_request": "客户要求",
    "complaint": "投诉",
    "fallback": "机器人未能理解",
    "bot_unavailable": "机器人故障",
}
CHANNEL_LABELS = {"web": "网页", "telegram": "Telegram", "wechat": "微信"}
PAGE_HEADERS = {  # every page the gateway serves (the console and the web chat): no framing, no foreign code
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@asynccontextmanager
async def lifespan(app):
    """Runs inside the app's own lifespan: the queue's time-out sweeper."""
    task = asyncio.create_task(app.state.chat.handoff.run_sweeper(QUEUE_SWEEP_INTERVAL_S))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


router = APIRouter(lifespan=lifespan)


# ── refusals, translated once ──────────────────────────────────────────────────────────────────


def _who(username: str, me: AgentView | None) -> str:
    return "您" if me is not None and username == me.username else username


def _retry_after(until: datetime) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(until.timestamp() - time.time())))}


def refusal(error: Exception, me: AgentView | None = None) -> HTTPException:
    match error:
        case AgentActionRefused():
            return HTTPException(error.status_code, error.reply)
        case LoginRejected():
            return HTTPException(401, say("console_login_rejected"))
        case AgentLockedOut():
            return HTTPException(429, say("console_locked_out", until=format_local_time(error.until)), _retry_after(error.until))
        case IpThrottled():
            return HTTPException(429, say("console_ip_throttled", until=format_local_time(error.until)), _retry_after(error.until))
        case SessionInvalid():
            return HTTPException(401, say("console_session_invalid"))
        case ConversationNotFound():
            return HTTPException(404, say("console_conversation_not_found"))
        case NotWaiting():
            return HTTPException(409, say("console_not_waiting"))
        case NotYourConversation():
            return HTTPException(403, say("console_not_yours"))
        case AgentOffline() if me is not None and error.username == me.username:
            return HTTPException(409, say("console_self_offline"))
        case AgentOffline():
            return HTTPException(409, say("console_agent_offline", agent=error.username))
        case CapacityReached():
            return HTTPException(409, say("console_capacity", agent=_who(error.username, me), capacity=error.capacity))
        case SameAgent():
            return HTTPException(422, say("console_same_agent"))
        case AgentNotFound():
            return HTTPException(404, say("console_agent_not_found", agent=error.username))
        case AgentInvalid():
            return HTTPException(422, say("console_agent_invalid", reason=error.reason))
        case TicketNotFound():
            return HTTPException(404, say("console_ticket_not_found"))
    return HTTPException(409, say("bad_request"))


# ── dependencies ───────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class SignedInAgent:
    agent: AgentView
    csrf_token: str
    session_token: str


def get_desk(request: Request) -> HandoffDesk:
    return request.app.state.chat.handoff


DeskDep = Annotated[HandoffDesk, Depends(get_desk)]


async def get_agent(request: Request, desk: DeskDep) -> SignedInAgent:
    token = request.cookies.get(AGENT_COOKIE, "")
    try:
        agent, csrf_token = await run_in_threadpool(agents.session_agent, desk.uow(), token)
    except SessionInvalid as error:
        raise refusal(error) from error
    return SignedInAgent(agent, csrf_token, token)


AgentDep = Annotated[SignedInAgent, Depends(get_agent)]


async def get_acting_agent(request: Request, caller: AgentDep) -> SignedInAgent:
    """A state-changing call: the session's CSRF token must come back in the header."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not secrets.compare_digest(sent.encode(), caller.csrf_token.encode()):
        raise HTTPException(403, say("console_csrf_rejected"))
    return caller


ActingDep = Annotated[SignedInAgent, Depends(get_acting_agent)]
ConversationId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


async def _do(awaitable, me: AgentView | None = None):
    try:
        return await awaitable
    except (HandoffError, AgentActionRefused) as error:
        raise refusal(error, me) from error


# ── bodies and views ───────────────────────────────────────────────────────────────────────────


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class StatusIn(BaseModel):
    status: Literal["online", "offline"]


class TextIn(BaseModel):
    text: str = Field(max_length=20_000)


class TransferIn(BaseModel):
    to: str = Field(min_length=1, max_length=64)


class UnlockIn(BaseModel):
    identity_verified: bool = False


def agent_body(agent: AgentView) -> dict:
    return {"username": agent.username, "name": agent.name, "status": agent.status, "capacity": agent.capacity}


def handoff_body(handoff: queue.HandoffView | None) -> dict | None:
    if handoff is None:
        return None
    return {
        "id": handoff.id,
        "status": handoff.status,
        "reason": handoff.reason,
        "reason_label": REASON_LABELS.get(handoff.reason, handoff.reason),
        "priority": handoff.priority,
        "agent": None if handoff.agent is None else {"username": handoff.agent.username, "name": handoff.agent.name},
        "enqueued_at": _iso(handoff.enqueued_at),
        "assigned_at": _iso(handoff.assigned_at),
        "closed_at": _iso(handoff.closed_at),
        "rating": handoff.rating,
    }


def queue_item_body(item: queue.QueueItem, me: AgentView) -> dict:
    return {
        "conversation_id": item.handoff.conversation_id,
        "channel": item.handoff.channel,
        "channel_label": CHANNEL_LABELS.get(item.handoff.channel, item.handoff.channel),
        "customer": item.customer_name or "访客",
        "verified": item.customer_id is not None,
        "waiting_s": item.waiting_s,
        "preview": item.preview,
        "position": None if item.spot is None else item.spot.position,
        "mine": item.handoff.agent is not None and item.handoff.agent.id == me.id,
        **handoff_body(item.handoff),
    }


def ticket_body(ticket: queue.TicketView) -> dict:
    return {
        "id": ticket.id,
        "conversation_id": ticket.conversation_id,
        "channel": ticket.channel,
        "channel_label": CHANNEL_LABELS.get(ticket.channel, ticket.channel),
        "verified": ticket.customer_id is not None,
        "reason_label": REASON_LABELS.get(ticket.reason, ticket.reason),
        "text": ticket.text,
        "callback": ticket.callback,  # the number to call back, in clear only here (masked everywhere else)
        "created_at": _iso(ticket.created_at),
        "contact_after": _iso(ticket.contact_after),
    }


def _set_session_cookie(request: Request, response: JSONResponse, token: str, max_age: int) -> None:
    response.set_cookie(
        AGENT_COOKIE, token, max_age=max_age, httponly=True, samesite="strict", path="/",
        secure=request.app.state.settings.is_production,
    )


# ── the page ───────────────────────────────────────────────────────────────────────────────────


@router.get("/console", include_in_schema=False)
async def console_redirect() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/", include_in_schema=False)
async def console_page() -> FileResponse:
    return FileResponse(CONSOLE_DIR / "index.html", headers=PAGE_HEADERS)


# ── sign-in ────────────────────────────────────────────────────────────────────────────────────


def get_login_guard(request: Request) -> LoginGuard:
    return request.app.state.login_guard


LoginGuardDep = Annotated[LoginGuard, Depends(get_login_guard)]


@router.post("/api/agent/login")
async def login(body: LoginIn, request: Request, desk: DeskDep, guard: LoginGuardDep) -> JSONResponse:
    username, ip, now = body.username.strip().lower(), request.client.host if request.client else "unknown", datetime.now(timezone.utc)
    try:
        guard.check(ip, username, now)
        signed_in = await run_in_threadpool(lambda: agents.login(desk.uow(), username=username, password=body.password, now=now))
    except IpThrottled as error:
        request.app.state.chat.security_events.record("login_throttled", channel="console", detail=f"client {ip}")
        raise refusal(error) from error
    except (LoginRejected, AgentLockedOut) as error:
        answer = guard.refused(ip, username, error, now)  # a name that is no account locks like a real one
        if isinstance(answer, AgentLockedOut):
            request.app.state.chat.security_events.record("login_throttled", channel="console", detail=f"client {ip}: account locked")
        raise refusal(answer) from error
    guard.signed_in(username)
    desk.queue_changed()
    response = JSONResponse({"csrf_token": signed_in.csrf_token, "agent": agent_body(signed_in.agent)})
    _set_session_cookie(request, response, signed_in.session_token, request.app.state.settings.agent_session_ttl_s)
    return response


@router.post("/api/agent/logout")
async def logout(caller: ActingDep, desk: DeskDep) -> JSONResponse:
    await desk.sign_out(caller.session_token)
    response = JSONResponse({"ok": True})
    response.delete_cookie(AGENT_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/api/agent/me")
async def me(caller: AgentDep) -> dict:
    return {"agent": agent_body(caller.agent), "csrf_token": caller.csrf_token}


@router.post("/api/agent/status")
async def set_status(body: StatusIn, caller: ActingDep, desk: DeskDep) -> dict:
    agent = await _do(desk.set_status(caller.agent, body.status), caller.agent)
    return {"agent": agent_body(agent)}


# ── the queue and conversations ────────────────────────────────────────────────────────────────


@router.get("/api/agent/queue")
async def get_queue(caller: AgentDep, desk: DeskDep) -> dict:
    items = await run_in_threadpool(lambda: queue.list_queue(desk.uow()))
    loads = await run_in_threadpool(lambda: agents.list_agents(desk.uow()))
    open_tickets = await run_in_threadpool(lambda: queue.list_tickets(desk.uow()))
    bodies = [queue_item_body(item, caller.agent) for item in items]
    return {
        "waiting": [b for b in bodies if b["status"] == "queued"],
        "assigned": [b for b in bodies if b["status"] == "assigned"],
        "agents": [
            {**agent_body(load.agent), "online": load.online, "serving": load.serving, "me": load.agent.id == caller.agent.id}
            for load in loads
        ],
        "tickets_open": len(open_tickets),
    }


@router.get("/api/agent/conversations/{conversation_id}")
async def get_conversation(conversation_id: ConversationId, caller: AgentDep, desk: DeskDep) -> dict:
    await _do(run_in_threadpool(lambda: queue.ensure_can_view(desk.uow(), conversation_id=conversation_id, agent_id=caller.agent.id)), caller.agent)
    conversation = await _do(desk.conversation(conversation_id))
    handoff = await run_in_threadpool(queue.current_handoff, desk.uow(), conversation_id)
    notes = await run_in_threadpool(queue.list_notes, desk.uow(), conversation_id)
    messages = await desk.transcript(conversation_id)
    return {
        "conversation_id": conversation.id,
        "channel": conversation.channel,
        "channel_label": CHANNEL_LABELS.get(conversation.channel, conversation.channel),
        "state": conversation.state,
        "mine": handoff is not None and handoff.status == "assigned" and handoff.agent is not None and handoff.agent.id == caller.agent.id,
        "handoff": handoff_body(handoff),
        "messages": [message.public() for message in messages],
        "notes": [note_body(note) for note in notes],
        "customer": await desk.customer_context(conversation.customer_id),
    }


@router.post("/api/agent/conversations/{conversation_id}/claim")
async def claim(conversation_id: ConversationId, caller: ActingDep, desk: DeskDep) -> dict:
    return await _do(desk.claim(caller.agent, conversation_id), caller.agent)


@router.post("/api/agent/conversations/{conversation_id}/messages")
async def reply(conversation_id: ConversationId, body: TextIn, caller: ActingDep, desk: DeskDep) -> dict:
    message = await _do(desk.reply(caller.agent, conversation_id, body.text), caller.agent)
    return {"message": message.public()}


@router.post("/api/agent/conversations/{conversation_id}/notes")
async def add_note(conversation_id: ConversationId, body: TextIn, caller: ActingDep, desk: DeskDep) -> dict:
    note = await _do(desk.note(caller.agent, conversation_id, body.text), caller.agent)
    return {"note": note_body(note)}


@router.post("/api/agent/conversations/{conversation_id}/transfer")
async def transfer(conversation_id: ConversationId, body: TransferIn, caller: ActingDep, desk: DeskDep) -> dict:
    return await _do(desk.transfer(caller.agent, conversation_id, body.to.strip()), caller.agent)


@router.post("/api/agent/conversations/{conversation_id}/unlock-wallet")
async def unlock(conversation_id: ConversationId, body: UnlockIn, caller: ActingDep, desk: DeskDep) -> dict:
    return await _do(desk.unlock(caller.agent, conversation_id, identity_verified=body.identity_verified), caller.agent)


@router.post("/api/agent/conversations/{conversation_id}/resolve")
async def resolve(conversation_id: ConversationId, caller: ActingDep, desk: DeskDep) -> dict:
    return await _do(desk.resolve(caller.agent, conversation_id), caller.agent)


@router.get("/api/agent/canned")
async def canned(caller: AgentDep) -> dict:
    entries = get_knowledge_base().entries
    return {"answers": [{"id": e.id, "intent": e.intent, "title": e.title, "text": e.answer} for e in entries]}


@router.get("/api/agent/tickets")
async def tickets(caller: AgentDep, desk: DeskDep) -> dict:
    return {"tickets": [ticket_body(t) for t in await run_in_threadpool(lambda: queue.list_tickets(desk.uow()))]}


@router.post("/api/agent/tickets/{ticket_id}/close")
async def close_ticket(ticket_id: Annotated[int, Path(ge=1, le=2**63 - 1)], caller: ActingDep, desk: DeskDep) -> dict:
    ticket = await _do(run_in_threadpool(lambda: queue.close_ticket(desk.uow(), ticket_id=ticket_id, agent_id=caller.agent.id)), caller.agent)
    desk.queue_changed()
    return {"ticket": ticket_body(ticket)}


# ── live events ────────────────────────────────────────────────────────────────────────────────


@router.get("/api/agent/events")
async def events(request: Request, caller: AgentDep, desk: DeskDep) -> StreamingResponse:
    """`queue` (refetch the queue), `message` and `note` (for queued conversations and the agent's own)."""
    listener = desk.chat.hub.subscribe(AGENTS_TOPIC)

    async def stream():
        checked = time.monotonic()
        try:
            yield _sse("hello", {"agent": agent_body(caller.agent)})
            while not await request.is_disconnected():
                if time.monotonic() - checked >= SSE_SESSION_CHECK_S:
                    checked = time.monotonic()
                    try:  # also keeps the agent's presence fresh
                        await run_in_threadpool(agents.session_agent, desk.uow(), caller.session_token)
                    except SessionInvalid:
                        yield _sse("signed_out", {})
                        return
                try:
                    event, data = await asyncio.wait_for(listener.get(), SSE_KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if "assignee_id" in data:
                    if data["assignee_id"] not in (None, caller.agent.id):
                        continue
                    data = {key: value for key, value in data.items() if key != "assignee_id"}
                yield _sse(event, data)
        finally:
            desk.chat.hub.unsubscribe(AGENTS_TOPIC, listener)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
