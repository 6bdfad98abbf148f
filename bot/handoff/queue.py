"""The queue of conversations waiting for a human agent, and everything up to the bot taking over again.

A conversation (`conversations.state`) goes `bot → queued → assigned → resolved → bot`; each trip is
one `handoffs` row. Plain rules:

* priority: fraud 0, a locked or frozen wallet 1, everything else 2; FIFO within a priority;
* a customer's position is the number of conversations ahead; the wait estimate is
  `AVERAGE_HANDLE_S × position / online agents`, at least one minute;
* outside business hours, or with no agent online, nobody is queued: the customer is offered a
  leave-a-message ticket instead, and told when the bank will be in touch;
* a conversation waiting longer than `queue_wait_timeout_s` returns to the bot with that offer;
* an agent serves at most `capacity` conversations and acts only on conversations assigned to them;
* after resolve the customer may rate the handoff once, 1 to 5;
* every agent action is written to the audit log in the same transaction as the change.

Each use case is one function taking a unit of work and values, committing explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.handoff.agents import AgentView, actor, agent_view, audit, is_online, online_agent_count, utc
from bot.handoff.errors import (
    AgentNotFound,
    AgentOffline,
    CapacityReached,
    NotWaiting,
    NotYourConversation,
    RatingRejected,
    SameAgent,
    TicketNotFound,
)
from bot.handoff.models import Agent, ChatMessage, Conversation, Handoff, HandoffNote, Ticket
from bot.handoff.store import ConversationNotFound
from bot.masking import mask_personal_numbers, mobile_numbers
from bot.sealing import seal, unseal
from bot.settings import Settings
from bot.wallet.models import AuditEntry, Customer
from bot.wallet.uow import UnitOfWork

BANK_TZ = ZoneInfo("Asia/Shanghai")
AVERAGE_HANDLE_S = 180
PRIORITY_FRAUD = 0
PRIORITY_LOCKED_WALLET = 1
PRIORITY_OTHER = 2
REASONS = ("fraud", "wallet_locked", "customer_request", "complaint", "fallback", "bot_unavailable")
ACTIVE = ("queued", "assigned")
NOTE_CHARS_MAX = 1000
TICKET_CHARS_MAX = 1000
RATING_MIN, RATING_MAX = 1, 5
QUEUE_LIST_MAX = 200
PREVIEW_CHARS_MAX = 60
TICKET_WRITING_S = 1800  # after agreeing to leave a message, the next text within this time is the ticket
VIEW_AUDIT_WINDOW_S = 600  # one "conversation_viewed" line per agent and conversation in this window


# ── views ──────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class QueueSpot:
    position: int  # conversations ahead of this one
    eta_minutes: int


@dataclass(frozen=True)
class HandoffView:
    id: int
    conversation_id: str
    channel: str
    reason: str
    priority: int
    status: str
    agent: AgentView | None
    enqueued_at: datetime
    assigned_at: datetime | None
    closed_at: datetime | None
    rating: int | None


@dataclass(frozen=True)
class TicketView:
    id: int
    conversation_id: str
    channel: str
    customer_id: str | None
    reason: str
    status: str
    text: str
    contact_after: datetime
    created_at: datetime
    after_hours: bool
    callback: str | None = None  # the number the customer left, in clear: only in the agents' ticket list


@dataclass(frozen=True)
class Outcome:
    """What asking for a human led to: `queued` (with a spot), `ticket` (an offer), or `already` queued."""

    kind: str
    handoff: HandoffView | None = None
    spot: QueueSpot | None = None
    ticket: TicketView | None = None


@dataclass(frozen=True)
class ConversationStatus:
    state: str
    handoff: HandoffView | None  # the active one (queued or assigned)
    spot: QueueSpot | None
    writing_ticket_id: int | None  # the customer agreed to leave a message and is typing it


@dataclass(frozen=True)
class QueueItem:
    handoff: HandoffView
    customer_id: str | None
    customer_name: str | None  # masked
    waiting_s: int
    preview: str
    spot: QueueSpot | None


@dataclass(frozen=True)
class NoteView:
    id: int
    author: str
    text: str
    created_at: datetime


# ── rules ──────────────────────────────────────────────────────────────────────────────────────


def priority_for(reason: str, *, urgent: bool = False, wallet_locked: bool = False) -> int:
    if reason == "fraud" or urgent:
        return PRIORITY_FRAUD
    if reason == "wallet_locked" or wallet_locked:
        return PRIORITY_LOCKED_WALLET
    return PRIORITY_OTHER


def estimate_wait_minutes(position: int, online_agents: int) -> int:
    return max(1, math.ceil(AVERAGE_HANDLE_S * position / 60 / max(online_agents, 1)))


def is_open(settings: Settings, now: datetime) -> bool:
    """Within business hours (Asia/Shanghai); a span like 22:00-06:00 crosses midnight."""
    local = utc(now).astimezone(BANK_TZ).time()
    start, end = settings.business_hours_start, settings.business_hours_end
    if start < end:
        return start <= local < end or (end == time.max and local >= start)
    return local >= start or local < end


def next_opening(settings: Settings, now: datetime) -> datetime:
    """`now` when open, else the next business-hours start."""
    at = utc(now)
    if is_open(settings, at):
        return at
    local = at.astimezone(BANK_TZ)
    opening = datetime.combine(local.date(), settings.business_hours_start, tzinfo=BANK_TZ)
    if opening <= local:
        opening += timedelta(days=1)
    return opening.astimezone(at.tzinfo)


# ── helpers ────────────────────────────────────────────────────────────────────────────────────


def _conversation(session: Session, conversation_id: str) -> Conversation:
    row = session.get(Conversation, conversation_id)
    if row is None:
        raise ConversationNotFound(conversation_id)
    return row


def _active(session: Session, conversation_id: str, *, lock: bool = False) -> Handoff | None:
    """The conversation's open handoff; `lock` row-locks it on PostgreSQL (SQLite already holds the
    database's write lock from BEGIN IMMEDIATE), so two agents cannot both claim it. Lock order:
    the handoff row first, then agent rows."""
    query = (
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id, Handoff.status.in_(ACTIVE))
        .order_by(Handoff.id.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()


def _view(session: Session, row: Handoff) -> HandoffView:
    agent = session.get(Agent, row.agent_id) if row.agent_id else None
    return HandoffView(
        row.id, row.conversation_id, row.channel, row.reason, row.priority, row.status,
        agent_view(agent) if agent else None, row.enqueued_at, row.assigned_at, row.closed_at, row.rating,
    )


def _ticket_view(row: Ticket, *, secret: str | None = None) -> TicketView:
    """With the `secret`, the view carries the callback number unsealed (the ticket itself, for agents)."""
    return TicketView(
        row.id, row.conversation_id, row.channel, row.customer_id, row.reason, row.status, row.text,
        row.contact_after, row.created_at, row.contact_after > row.created_at,
        unseal(secret, row.callback_sealed) if secret else None,
    )


def _waiting_since(row: Handoff) -> datetime:
    """A conversation handed back to the queue waits again from when it was last assigned."""
    return row.assigned_at or row.enqueued_at


def _queued(session: Session) -> list[Handoff]:
    return list(
        session.scalars(
            select(Handoff).where(Handoff.status == "queued").order_by(Handoff.priority, Handoff.enqueued_at, Handoff.id)
        ).all()
    )


def _spots(session: Session, at: datetime) -> dict[int, QueueSpot]:
    online = online_agent_count(session, at)
    return {row.id: QueueSpot(index, estimate_wait_minutes(index, online)) for index, row in enumerate(_queued(session))}


def _agent(session: Session, agent_id: int, *, lock: bool = False) -> Agent:
    row = session.get(Agent, agent_id, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise AgentNotFound(str(agent_id))
    return row


def _serving(session: Session, agent_id: int) -> int:
    return int(session.scalar(select(func.count(Handoff.id)).where(Handoff.agent_id == agent_id, Handoff.status == "assigned")) or 0)


def _check_can_take(session: Session, agent: Agent, at: datetime) -> None:
    if not is_online(agent, at):
        raise AgentOffline(agent.username)
    if _serving(session, agent.id) >= agent.capacity:
        raise CapacityReached(agent.username, agent.capacity)


def _assigned_to(session: Session, conversation_id: str, agent: Agent) -> Handoff:
    row = _active(session, conversation_id, lock=True)
    if row is None or row.status != "assigned" or row.agent_id != agent.id:
        raise NotYourConversation(conversation_id, agent.username)
    return row


def _set_state(conversation: Conversation, state: str, at: datetime) -> None:
    conversation.state, conversation.updated_at = state, at


def _offer_ticket(session: Session, settings: Settings, conversation: Conversation, reason: str, at: datetime) -> Ticket:
    session.execute(
        update(Ticket)
        .where(Ticket.conversation_id == conversation.id, Ticket.status.in_(("offered", "writing")))
        .values(status="declined", closed_at=at)
    )
    ticket = Ticket(
        conversation_id=conversation.id, channel=conversation.channel, customer_id=conversation.customer_id,
        reason=reason, status="offered", text="", contact_after=next_opening(settings, at), created_at=at,
    )
    session.add(ticket)
    session.flush()
    return ticket


# ── the customer's side ────────────────────────────────────────────────────────────────────────


def request_handoff(
    uow: UnitOfWork,
    *,
    conversation_id: str,
    reason: str,
    urgent: bool = False,
    wallet_locked: bool = False,
    now: datetime | None = None,
) -> Outcome:
    """Queue the conversation for a human, or (closed, nobody online) offer a ticket instead."""
    at = utc(now)
    reason = reason if reason in REASONS else "customer_request"
    with uow:
        session = uow.session
        conversation = _conversation(session, conversation_id)
        active = _active(session, conversation_id)
        if active is not None:
            return Outcome("already", _view(session, active), _spots(session, at).get(active.id))
        if not is_open(uow.settings, at) or online_agent_count(session, at) == 0:
            ticket = _offer_ticket(session, uow.settings, conversation, reason, at)
            view = _ticket_view(ticket)
            uow.commit()
            return Outcome("ticket", ticket=view)
        row = Handoff(
            conversation_id=conversation_id, channel=conversation.channel, reason=reason,
            priority=priority_for(reason, urgent=urgent, wallet_locked=wallet_locked), status="queued", enqueued_at=at,
        )
        session.add(row)
        session.flush()
        _set_state(conversation, "queued", at)
        spot = _spots(session, at)[row.id]
        row.notified_position = spot.position
        view = _view(session, row)
        uow.commit()
        return Outcome("queued", view, spot)


def conversation_status(uow: UnitOfWork, conversation_id: str, *, now: datetime | None = None) -> ConversationStatus:
    at = utc(now)
    with uow:
        session = uow.session
        conversation = _conversation(session, conversation_id)
        active = _active(session, conversation_id)
        spot = _spots(session, at).get(active.id) if active is not None and active.status == "queued" else None
        writing = session.scalar(_writing(conversation_id, at).with_only_columns(Ticket.id))
        return ConversationStatus(conversation.state, _view(session, active) if active else None, spot, writing)


def cancel_waiting(uow: UnitOfWork, *, conversation_id: str, now: datetime | None = None) -> bool:
    """The customer leaves the queue; False when they were not waiting (e.g. an agent took them)."""
    at = utc(now)
    with uow:
        row = _active(uow.session, conversation_id, lock=True)
        if row is None or row.status != "queued":
            return False
        row.status, row.closed_at = "cancelled", at
        _set_state(_conversation(uow.session, conversation_id), "bot", at)
        uow.commit()
        return True


def rate(uow: UnitOfWork, *, conversation_id: str, handoff_id: int, stars: int, now: datetime | None = None) -> HandoffView:
    at = utc(now)
    if not isinstance(stars, int) or not RATING_MIN <= stars <= RATING_MAX:
        raise RatingRejected("out of range")
    with uow:
        row = uow.session.get(Handoff, handoff_id)
        if row is None or row.conversation_id != conversation_id or row.status != "resolved":
            raise RatingRejected("not a resolved handoff of this conversation")
        if row.rating is not None:
            raise RatingRejected("already rated", already_rated=True)
        row.rating, row.rated_at = stars, at
        view = _view(uow.session, row)
        uow.commit()
        return view


def accept_ticket(uow: UnitOfWork, *, conversation_id: str, ticket_id: int, now: datetime | None = None) -> TicketView:
    """The customer chose to leave a message: their next text becomes the ticket."""
    with uow:
        row = uow.session.get(Ticket, ticket_id)
        if row is None or row.conversation_id != conversation_id or row.status not in ("offered", "writing"):
            raise TicketNotFound(ticket_id)
        row.status = "writing"
        view = _ticket_view(row)
        uow.commit()
        return view


def decline_ticket(uow: UnitOfWork, *, conversation_id: str, ticket_id: int, now: datetime | None = None) -> None:
    at = utc(now)
    with uow:
        row = uow.session.get(Ticket, ticket_id)
        if row is None or row.conversation_id != conversation_id or row.status not in ("offered", "writing"):
            raise TicketNotFound(ticket_id)
        row.status, row.closed_at = "declined", at
        uow.commit()


def _writing(conversation_id: str, at: datetime):
    """The ticket this conversation agreed to write, if it did so recently."""
    return (
        select(Ticket)
        .where(Ticket.conversation_id == conversation_id, Ticket.status == "writing", Ticket.created_at > at - timedelta(seconds=TICKET_WRITING_S))
        .order_by(Ticket.id.desc())
        .limit(1)
    )


def leave_message(uow: UnitOfWork, *, conversation_id: str, text: str, now: datetime | None = None) -> TicketView | None:
    """File the customer's text as the ticket they agreed to write; None when none is being written."""
    at = utc(now)
    with uow:
        row = uow.session.scalars(_writing(conversation_id, at)).first()
        if row is None:
            return None
        row.text, row.status = mask_personal_numbers(text)[:TICKET_CHARS_MAX], "open"
        callbacks = mobile_numbers(text)  # masked in the text and the transcript; kept, sealed, to call back
        row.callback_sealed = seal(uow.settings.secret, callbacks[0]) if callbacks else None
        view = _ticket_view(row)
        uow.commit()
        return view


# ── housekeeping ───────────────────────────────────────────────────────────────────────────────


def expire_waiting(uow: UnitOfWork, *, now: datetime | None = None) -> list[TicketView]:
    """Conversations waiting longer than `queue_wait_timeout_s` go back to the bot with a ticket offer."""
    at = utc(now)
    cutoff = at - timedelta(seconds=uow.settings.queue_wait_timeout_s)
    with uow:
        session = uow.session
        rows = session.scalars(
            select(Handoff).where(Handoff.status == "queued", func.coalesce(Handoff.assigned_at, Handoff.enqueued_at) <= cutoff)
        ).all()
        offers = []
        for row in rows:
            row.status, row.closed_at = "timed_out", at
            conversation = _conversation(session, row.conversation_id)
            _set_state(conversation, "bot", at)
            offers.append(_ticket_view(_offer_ticket(session, uow.settings, conversation, row.reason, at)))
        if offers:
            uow.commit()
        return offers


def positions_to_announce(uow: UnitOfWork, *, now: datetime | None = None) -> list[tuple[str, QueueSpot]]:
    """Waiting conversations whose position changed since they were last told, marked as told."""
    at = utc(now)
    with uow:
        session = uow.session
        spots = _spots(session, at)
        changed = []
        for row in _queued(session):
            spot = spots[row.id]
            if row.notified_position != spot.position:
                row.notified_position = spot.position
                changed.append((row.conversation_id, spot))
        if changed:
            uow.commit()
        return changed


# ── the agent's side ───────────────────────────────────────────────────────────────────────────


def list_queue(uow: UnitOfWork, *, now: datetime | None = None) -> list[QueueItem]:
    """Waiting conversations in queue order, then the assigned ones (oldest first)."""
    at = utc(now)
    with uow:
        session = uow.session
        rows = list(
            session.scalars(
                select(Handoff)
                .where(Handoff.status.in_(ACTIVE))
                .order_by(Handoff.status.desc(), Handoff.priority, Handoff.enqueued_at, Handoff.id)
                .limit(QUEUE_LIST_MAX)
            ).all()
        )
        ids = [row.conversation_id for row in rows]
        customers = dict(
            session.execute(
                select(Conversation.id, Customer.masked_name)
                .outerjoin(Customer, Customer.id == Conversation.customer_id)
                .where(Conversation.id.in_(ids))
            ).all()
        )
        customer_ids = dict(session.execute(select(Conversation.id, Conversation.customer_id).where(Conversation.id.in_(ids))).all())
        last_ids = (
            select(func.max(ChatMessage.id))
            .where(ChatMessage.conversation_id.in_(ids), ChatMessage.sender == "customer")
            .group_by(ChatMessage.conversation_id)
        )
        previews = dict(session.execute(select(ChatMessage.conversation_id, ChatMessage.text).where(ChatMessage.id.in_(last_ids))).all())
        spots = _spots(session, at)
        items = []
        for row in rows:
            since = row.assigned_at if row.status == "assigned" else _waiting_since(row)
            items.append(
                QueueItem(
                    _view(session, row), customer_ids.get(row.conversation_id), customers.get(row.conversation_id),
                    max(0, int((at - since).total_seconds())), (previews.get(row.conversation_id) or "")[:PREVIEW_CHARS_MAX],
                    spots.get(row.id),
                )
            )
        return items


def ensure_can_view(uow: UnitOfWork, *, conversation_id: str, agent_id: int, now: datetime | None = None) -> None:
    """An agent may open a conversation that is waiting, theirs (now or before), or behind an open ticket."""
    at = utc(now)
    with uow:
        session = uow.session
        agent = _agent(session, agent_id)
        _conversation(session, conversation_id)
        active = _active(session, conversation_id)
        if active is not None and (active.status == "queued" or active.agent_id == agent.id):
            allowed = True
        elif active is not None:
            allowed = False  # another agent is serving this customer right now
        else:
            handled = session.scalar(select(Handoff.id).where(Handoff.conversation_id == conversation_id, Handoff.agent_id == agent.id).limit(1))
            ticket = session.scalar(select(Ticket.id).where(Ticket.conversation_id == conversation_id, Ticket.status == "open").limit(1))
            allowed = handled is not None or ticket is not None
        if not allowed:
            raise NotYourConversation(conversation_id, agent.username)
        seen_lately = session.scalar(
            select(AuditEntry.id)
            .where(
                AuditEntry.target == conversation_id, AuditEntry.actor == actor(agent.username),
                AuditEntry.action == "conversation_viewed", AuditEntry.at > at - timedelta(seconds=VIEW_AUDIT_WINDOW_S),
            )
            .limit(1)
        )
        if seen_lately is None:
            audit(session, actor=actor(agent.username), action="conversation_viewed", target=conversation_id, now=at)
            uow.commit()


def current_handoff(uow: UnitOfWork, conversation_id: str) -> HandoffView | None:
    """The active handoff, else the latest one (for the console's header)."""
    with uow:
        session = uow.session
        row = _active(session, conversation_id) or session.scalars(
            select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id.desc()).limit(1)
        ).first()
        return _view(session, row) if row else None


def claim(uow: UnitOfWork, *, conversation_id: str, agent_id: int, now: datetime | None = None) -> HandoffView:
    at = utc(now)
    with uow:
        session = uow.session
        row = _active(session, conversation_id, lock=True)
        agent = _agent(session, agent_id, lock=True)  # capacity is checked while holding the agent row
        if row is None or row.status != "queued":
            raise NotWaiting(conversation_id)
        _check_can_take(session, agent, at)
        row.status, row.agent_id, row.assigned_at = "assigned", agent.id, at
        _set_state(_conversation(session, conversation_id), "assigned", at)
        waited_s = int((at - _waiting_since(row)).total_seconds())
        audit(session, actor=actor(agent.username), action="conversation_claimed", target=conversation_id, details={"waited_s": waited_s}, now=at)
        view = _view(session, row)
        uow.commit()
        return view


def record_action(
    uow: UnitOfWork, *, conversation_id: str, agent_id: int, action: str, details: dict | None = None, now: datetime | None = None
) -> HandoffView:
    """Check the conversation is the agent's, and log what they did (a reply, an unlock…)."""
    at = utc(now)
    with uow:
        session = uow.session
        agent = _agent(session, agent_id)
        row = _assigned_to(session, conversation_id, agent)
        audit(session, actor=actor(agent.username), action=action, target=conversation_id, details=details, now=at)
        view = _view(session, row)
        uow.commit()
        return view


def add_note(uow: UnitOfWork, *, conversation_id: str, agent_id: int, text: str, now: datetime | None = None) -> NoteView:
    at = utc(now)
    text = mask_personal_numbers(text.strip())[:NOTE_CHARS_MAX]
    with uow:
        session = uow.session
        agent = _agent(session, agent_id)
        _assigned_to(session, conversation_id, agent)
        note = HandoffNote(conversation_id=conversation_id, agent_id=agent.id, text=text, created_at=at)
        session.add(note)
        session.flush()
        audit(session, actor=actor(agent.username), action="note_added", target=conversation_id, details={"note_id": note.id}, now=at)
        view = NoteView(note.id, agent.display_name, note.text, at)
        uow.commit()
        return view


def list_notes(uow: UnitOfWork, conversation_id: str) -> list[NoteView]:
    with uow:
        rows = uow.session.execute(
            select(HandoffNote, Agent.display_name)
            .join(Agent, Agent.id == HandoffNote.agent_id)
            .where(HandoffNote.conversation_id == conversation_id)
            .order_by(HandoffNote.id)
        ).all()
        return [NoteView(note.id, name, note.text, note.created_at) for note, name in rows]


def transfer(
    uow: UnitOfWork, *, conversation_id: str, agent_id: int, to_username: str, now: datetime | None = None
) -> HandoffView:
    """Hand an assigned conversation to another online agent who has room."""
    at = utc(now)
    with uow:
        session = uow.session
        agent = _agent(session, agent_id)
        row = _assigned_to(session, conversation_id, agent)
        target = session.scalars(select(Agent).where(Agent.username == to_username).with_for_update()).one_or_none()
        if target is None:
            raise AgentNotFound(to_username)
        if target.id == agent.id:
            raise SameAgent(to_username)
        _check_can_take(session, target, at)
        row.agent_id, row.assigned_at = target.id, at
        audit(session, actor=actor(agent.username), action="conversation_transferred", target=conversation_id, details={"to": target.username}, now=at)
        view = _view(session, row)
        uow.commit()
        return view


def resolve(uow: UnitOfWork, *, conversation_id: str, agent_id: int, now: datetime | None = None) -> HandoffView:
    """Close the handoff; the conversation is the bot's again."""
    at = utc(now)
    with uow:
        session = uow.session
        agent = _agent(session, agent_id)
        row = _assigned_to(session, conversation_id, agent)
        row.status, row.closed_at = "resolved", at
        _set_state(_conversation(session, conversation_id), "bot", at)
        audit(session, actor=actor(agent.username), action="conversation_resolved", target=conversation_id, now=at)
        view = _view(session, row)
        uow.commit()
        return view


def release_agent(uow: UnitOfWork, *, agent_id: int, now: datetime | None = None) -> list[str]:
    """An agent signs out: their conversations go back to the queue, ahead of newer ones."""
    at = utc(now)
    with uow:
        session = uow.session
        agent = _agent(session, agent_id)
        rows = session.scalars(select(Handoff).where(Handoff.agent_id == agent.id, Handoff.status == "assigned")).all()
        for row in rows:
            row.status, row.agent_id, row.assigned_at, row.notified_position = "queued", None, at, None
            _set_state(_conversation(session, row.conversation_id), "queued", at)
            audit(session, actor=actor(agent.username), action="conversation_released", target=row.conversation_id, now=at)
        uow.commit()
        return [row.conversation_id for row in rows]


def list_tickets(uow: UnitOfWork, *, status: str = "open", limit: int = 100) -> list[TicketView]:
    with uow:
        rows = uow.session.scalars(select(Ticket).where(Ticket.status == status).order_by(Ticket.id).limit(min(limit, QUEUE_LIST_MAX))).all()
        return [_ticket_view(row, secret=uow.settings.secret) for row in rows]


def close_ticket(uow: UnitOfWork, *, ticket_id: int, agent_id: int, now: datetime | None = None) -> TicketView:
    at = utc(now)
    with uow:
        session = uow.session
        agent = _agent(session, agent_id)
        row = session.get(Ticket, ticket_id)
        if row is None or row.status != "open":
            raise TicketNotFound(ticket_id)
        row.status, row.closed_at, row.closed_by = "closed", at, agent.id
        audit(session, actor=actor(agent.username), action="ticket_closed", target=row.conversation_id, details={"ticket_id": row.id}, now=at)
        view = _ticket_view(row, secret=uow.settings.secret)
        uow.commit()
        return view
