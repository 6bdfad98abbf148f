"""The gateway's side of the human handoff: what the customer is told, and what agents see live.

`ChatService` calls in at four points: a stored bot reply asking for a human (`custom.type ==
"handoff"`), Rasa being down (fail-safe: queue instead of apologising), a customer message or button
while the conversation is `queued`/`assigned` or a ticket is being written (never forwarded to Rasa),
and the gateway's own buttons (payloads starting with "@": leave the queue, leave a message, rate).
The console calls the agent actions (claim, reply, note, transfer, unlock, resolve, sign-out).

Messages produced while answering a customer's own request are *appended* (the channel sends the
replies it gets back); messages that happen on their own (agent replies, queue moves, assignment,
resolve, time-outs) are *pushed*: appended, published, and delivered through the conversation's
channel (`ChatService.register_channel`). Agents' consoles listen on the hub topic `@agents`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta, timezone

from starlette.concurrency import run_in_threadpool

from bot import cues
from bot.db import get_session_factory
from bot.handoff import ConversationView, MessageView, RatingRejected, TicketNotFound, agents, queue
from bot.handoff.agents import AgentView, actor
from bot.handoff.queue import ConversationStatus, QueueSpot, TicketView
from bot.masking import mask_personal_numbers
from bot.phrases import say
from bot.wallet import SqlAlchemyUnitOfWork, WalletError, get_balance, get_customer, latest_open_draft, list_transactions, unlock_wallet
from bot.wallet.messages import format_local_time, format_yuan

log = logging.getLogger(__name__)

AGENTS_TOPIC = "@agents"
GATEWAY_PAYLOAD_PREFIX = "@"  # button payloads the gateway answers itself; Rasa's start with "/"
ACTIVE_STATES = ("queued", "assigned")
QUEUE_MESSAGE = "queue"  # `custom.type` of a message stating the customer's place in the queue
AGENT_MESSAGE_CHARS_MAX = 2000
TRANSCRIPT_MESSAGES_MAX = 1000
CONTEXT_TRANSACTIONS = 5
CONTEXT_HISTORY_DAYS = 3650


def leave_queue_button() -> dict:
    return {"title": say("handoff_leave_queue_button"), "payload": "@leave_queue"}


class AgentActionRefused(Exception):
    """The agent's request cannot be carried out; `reply` says why (Chinese), `status_code` how."""

    def __init__(self, reply: str, status_code: int = 409) -> None:
        super().__init__(reply)
        self.reply = reply
        self.status_code = status_code


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def queued_body(spot: QueueSpot) -> dict:
    """The state of a waiting conversation: its place, its wait, and the banner's sentence, all from `spot`."""
    return {
        "state": "queued",
        "queue": {"position": spot.position, "eta_minutes": spot.eta_minutes},
        "queue_notice": queue_text(spot),
    }


def state_body(status: ConversationStatus, told: QueueSpot | None = None) -> dict:
    """The `state` event and `GET /api/chat/messages` fields: state, and queue or agent.

    While queued, the place and wait are those the transcript told the customer last (`told`), so the
    page's banner and the bot's queue messages never disagree; the live figures only when none was told."""
    if status.state == "queued" and (told or status.spot) is not None:
        return queued_body(told or status.spot)
    body: dict = {"state": status.state}
    if status.state == "assigned" and status.handoff is not None and status.handoff.agent is not None:
        body["agent"] = {"name": status.handoff.agent.name}
    return body


def queue_text(spot: QueueSpot, *, moved: bool = False) -> str:
    if spot.position == 0:
        return say("handoff_queue_moved_next" if moved else "handoff_queued_next", eta=spot.eta_minutes)
    return say("handoff_queue_moved" if moved else "handoff_queued", position=spot.position, eta=spot.eta_minutes)


def queue_custom(spot: QueueSpot) -> dict:
    """Marks a message that tells the customer their place in the queue (and carries its 取消排队 button)."""
    return {"type": QUEUE_MESSAGE, "position": spot.position, "eta_minutes": spot.eta_minutes}


def told_spot(custom: dict | None) -> QueueSpot | None:
    """The place and wait a queue message told the customer (see `queue_custom`)."""
    if not isinstance(custom, dict) or custom.get("type") != QUEUE_MESSAGE:
        return None
    position, eta = custom.get("position"), custom.get("eta_minutes")
    if not isinstance(position, int) or not isinstance(eta, int):
        return None
    return QueueSpot(position, eta)


def ticket_when(ticket: TicketView, reply_hours: int) -> str:
    """When the bank will be in touch: "2 小时内", or "6月3日 09:00 后" outside business hours."""
    if not ticket.after_hours:
        return say("ticket_when_hours", hours=reply_hours)
    return say("ticket_when_opening", opening=format_local_time(ticket.contact_after))


class HandoffDesk:
    def __init__(self, chat, session_factory=None) -> None:
        self.chat = chat
        self._sessions = session_factory or get_session_factory()

    def uow(self, *, read_only: bool = False) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self._sessions, settings=self.chat.settings, read_only=read_only)

    async def _run(self, function, /, *args, **kwargs):
        return await run_in_threadpool(function, self.uow(), *args, **kwargs)

    async def _read(self, function, /, *args, **kwargs):
        """`_run` for a service that only reads (on SQLite it does not queue for the write lock)."""
        return await run_in_threadpool(function, self.uow(read_only=True), *args, **kwargs)

    async def conversation(self, conversation_id: str) -> ConversationView:
        return await run_in_threadpool(self.chat.store.get_conversation, conversation_id)

    # ── what customers and agents are shown ────────────────────────────────────────────────────

    async def public_state(self, conversation_id: str) -> dict:
        status = await self._read(queue.conversation_status, conversation_id)
        told = None
        if status.state == "queued" and status.handoff is not None:
            since = status.handoff.assigned_at or status.handoff.enqueued_at  # this wait, not an earlier one
            custom = await run_in_threadpool(self.chat.store.last_custom, conversation_id, QUEUE_MESSAGE, since=since)
            told = told_spot(custom)
        return state_body(status, told)

    def _publish_state(self, conversation_id: str, body: dict) -> None:
        self.chat.hub.publish(conversation_id, "state", body)

    def queue_changed(self) -> None:
        self.chat.hub.publish(AGENTS_TOPIC, "queue", {})

    def _to_agents(self, conversation_id: str, message: MessageView, assignee_id: int | None) -> None:
        self.chat.hub.publish(
            AGENTS_TOPIC, "message", {"conversation_id": conversation_id, "message": message.public(), "assignee_id": assignee_id}
        )

    async def _push(self, conversation: ConversationView, assignee_id: int | None, **fields) -> MessageView:
        message = await self.chat.push(conversation, **fields)
        self._to_agents(conversation.id, message, assignee_id)
        return message

    def _ticket_offer(self, ticket: TicketView) -> dict:
        if ticket.after_hours:
            settings = self.chat.settings
            end = "24:00" if settings.business_hours_end == time.max else f"{settings.business_hours_end:%H:%M}"
            text = say("ticket_offer_closed", start=f"{settings.business_hours_start:%H:%M}", end=end, when=ticket_when(ticket, settings.ticket_reply_hours))
        else:
            text = say("ticket_offer_busy", hours=self.chat.settings.ticket_reply_hours)
        buttons = [
            {"title": say("ticket_button_yes"), "payload": f"@ticket:{ticket.id}"},
            {"title": say("ticket_button_no"), "payload": f"@ticket_no:{ticket.id}"},
        ]
        return {"text": text, "buttons": buttons}

    # ── the customer's side (called by ChatService, under the conversation's lock) ─────────────

    async def on_handoff_reply(self, conversation: ConversationView, custom: dict) -> list[MessageView]:
        """A bot reply asked for a human: queue the conversation (or offer a ticket)."""
        reason = str(custom.get("reason") or "customer_request")
        return await self._request(conversation, reason=reason, urgent=custom.get("priority") == "urgent")

    async def on_bot_unavailable(self, conversation: ConversationView) -> list[MessageView]:
        """Rasa did not answer: fail safe to a human rather than leave the customer with an apology."""
        return await self._request(conversation, reason="bot_unavailable", prefix=say("handoff_bot_down"))

    async def _wallet_locked(self, customer_id: str | None) -> bool:
        if not customer_id:
            return False
        try:
            balance = await run_in_threadpool(get_balance, self.uow(), customer_id)
        except WalletError:
            return False
        return balance.status in ("locked", "frozen")

    async def _request(self, conversation: ConversationView, *, reason: str, urgent: bool = False, prefix: str = "") -> list[MessageView]:
        wallet_locked = await self._wallet_locked(conversation.customer_id)
        outcome = await self._run(
            queue.request_handoff, conversation_id=conversation.id, reason=reason, urgent=urgent, wallet_locked=wallet_locked
        )
        if outcome.kind == "ticket":
            offer = self._ticket_offer(outcome.ticket)
            return [await self.chat.append(conversation, sender="system", text=prefix + offer["text"], buttons=offer["buttons"])]
        if outcome.kind == "already" and outcome.handoff is not None and outcome.handoff.status == "assigned":
            return []  # an agent already has this customer
        spot = outcome.spot or QueueSpot(0, 1)
        message = await self.chat.append(
            conversation, sender="system", text=prefix + queue_text(spot), custom=queue_custom(spot),
            buttons=[leave_queue_button()],
        )
        self._publish_state(conversation.id, queued_body(spot))
        self._to_agents(conversation.id, message, None)
        self.queue_changed()
        return [message]

    async def route_text(self, conversation: ConversationView, text: str) -> tuple[MessageView, list[MessageView]] | None:
        """Customer text that must not go to Rasa: to the agent, or into the ticket being written."""
        status = await self._read(queue.conversation_status, conversation.id)
        if status.state in ACTIVE_STATES:
            message = await self.chat.append(conversation, sender="customer", text=text)
            self._to_agents(conversation.id, message, status.handoff.agent.id if status.handoff and status.handoff.agent else None)
            if status.state != "queued":
                return message, []  # the agent is there and answers
            if cues.match("leaves_queue", text):
                return message, await self._leave_queue(conversation)
            spot = status.spot or QueueSpot(0, 1)
            waiting = (
                say("handoff_waiting_next", eta=spot.eta_minutes) if spot.position == 0
                else say("handoff_waiting", position=spot.position, eta=spot.eta_minutes)
            )
            ack = await self.chat.append(  # with 取消排队 again: the one offered earlier is spent once they write
                conversation, sender="system", text=say("handoff_message_noted") + waiting, custom=queue_custom(spot),
                buttons=[leave_queue_button()],
            )
            self._publish_state(conversation.id, queued_body(spot))  # the banner says what the reply says
            self._to_agents(conversation.id, ack, None)
            return message, [ack]
        if status.writing_ticket_id is not None:
            message = await self.chat.append(conversation, sender="customer", text=text)
            ticket = await self._run(queue.leave_message, conversation_id=conversation.id, text=text)
            if ticket is None:
                return None
            reply = await self.chat.append(conversation, sender="system", text=say("ticket_saved", ticket=ticket.id, when=ticket_when(ticket, self.chat.settings.ticket_reply_hours)))
            self.queue_changed()
            await self.chat.tell_rasa(conversation, reply.text, reset_slots=["pending_offer"])
            return message, [reply]
        return None

    async def route_button(self, conversation: ConversationView, button: dict) -> tuple[MessageView, list[MessageView]] | None:
        payload = str(button.get("payload") or "")
        if payload.startswith(GATEWAY_PAYLOAD_PREFIX):
            message = await self.chat.append(conversation, sender="customer", text=button["title"])
            return message, await self._gateway_button(conversation, payload)
        return await self.route_text(conversation, button["title"])

    async def _gateway_button(self, conversation: ConversationView, payload: str) -> list[MessageView]:
        kind, _, argument = payload[1:].partition(":")
        try:
            if kind == "handoff":  # "@handoff" or "@handoff:<reason>": a "talk to a person" button
                return await self._request(conversation, reason=argument if argument in queue.REASONS else "customer_request")
            if kind == "leave_queue":
                return await self._leave_queue(conversation)
            if kind == "ticket":
                ticket = await self._run(queue.accept_ticket, conversation_id=conversation.id, ticket_id=int(argument))
                key = "ticket_prompt_customer" if ticket.customer_id else "ticket_prompt_visitor"
                return [await self.chat.append(conversation, sender="system", text=say(key))]
            if kind == "ticket_no":
                await self._run(queue.decline_ticket, conversation_id=conversation.id, ticket_id=int(argument))
                return [await self.chat.append(conversation, sender="system", text=say("ticket_declined"))]
            if kind == "rate":
                handoff_id, _, stars = argument.partition(":")
                try:
                    await self._run(queue.rate, conversation_id=conversation.id, handoff_id=int(handoff_id), stars=int(stars))
                except RatingRejected as error:
                    if not error.already_rated:
                        raise
                    return [await self.chat.append(conversation, sender="system", text=say("handoff_already_rated"))]
                return [await self.chat.append(conversation, sender="system", text=say("handoff_rated"))]
        except (TicketNotFound, RatingRejected, ValueError):
            pass
        return [await self.chat.append(conversation, sender="system", text=say("button_expired"))]

    async def _leave_queue(self, conversation: ConversationView) -> list[MessageView]:
        if not await self._run(queue.cancel_waiting, conversation_id=conversation.id):
            return [await self.chat.append(conversation, sender="system", text=say("button_expired"))]
        reply = await self.chat.append(conversation, sender="system", text=say("handoff_left_queue"))
        self._publish_state(conversation.id, {"state": "bot"})
        self._to_agents(conversation.id, reply, None)
        self.queue_changed()
        await self.chat.tell_rasa(conversation, reply.text, reset_slots=["pending_offer"])
        await self.announce_positions()
        return [reply]

    # ── things that happen on their own ────────────────────────────────────────────────────────

    async def announce_positions(self) -> None:
        """Tell every waiting customer whose place in the queue changed."""
        for conversation_id, spot in await self._run(queue.positions_to_announce):
            conversation = await self.conversation(conversation_id)
            await self._push(conversation, None, sender="system", text=queue_text(spot, moved=True), custom=queue_custom(spot))
            self._publish_state(conversation_id, queued_body(spot))

    async def sweep(self, now: datetime | None = None) -> int:
        """Return conversations that waited too long to the bot, with the leave-a-message offer."""
        offers = await self._run(queue.expire_waiting, now=now)
        for ticket in offers:
            conversation = await self.conversation(ticket.conversation_id)
            offer = self._ticket_offer(ticket)
            text = say("ticket_offer_timeout") + offer["text"]
            await self._push(conversation, None, sender="system", text=text, buttons=offer["buttons"])
            self._publish_state(conversation.id, {"state": "bot"})
            await self.chat.tell_rasa(conversation, text, reset_slots=["pending_offer"])
        if offers:
            self.queue_changed()
            await self.announce_positions()
        return len(offers)

    async def run_sweeper(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep()
            except Exception:  # the sweeper must outlive one bad round
                log.exception("queue sweep failed")

    # ── the agent's side (called by the console) ───────────────────────────────────────────────

    def check_agent_text(self, text: object) -> str:
        if not isinstance(text, str) or not text.strip():
            raise AgentActionRefused(say("console_empty_text"), 422)
        text = text.strip()
        if len(text) > AGENT_MESSAGE_CHARS_MAX:
            raise AgentActionRefused(say("console_text_too_long", limit=AGENT_MESSAGE_CHARS_MAX), 422)
        return text

    async def claim(self, agent: AgentView, conversation_id: str) -> dict:
        handoff = await self._run(queue.claim, conversation_id=conversation_id, agent_id=agent.id)
        conversation = await self.conversation(conversation_id)
        await self._push(conversation, agent.id, sender="system", text=say("handoff_assigned", agent=agent.name))
        self._publish_state(conversation_id, {"state": "assigned", "agent": {"name": agent.name}})
        self.queue_changed()
        await self.announce_positions()
        return {"conversation_id": conversation_id, "state": "assigned", "handoff_id": handoff.id}

    async def reply(self, agent: AgentView, conversation_id: str, text: object) -> MessageView:
        text = mask_personal_numbers(self.check_agent_text(text))
        await self._run(queue.record_action, conversation_id=conversation_id, agent_id=agent.id, action="agent_message", details={"chars": len(text)})
        conversation = await self.conversation(conversation_id)
        return await self._push(conversation, agent.id, sender="agent", text=text, custom={"type": "agent", "agent_name": agent.name})

    async def note(self, agent: AgentView, conversation_id: str, text: object) -> queue.NoteView:
        note = await self._run(queue.add_note, conversation_id=conversation_id, agent_id=agent.id, text=self.check_agent_text(text))
        self.chat.hub.publish(AGENTS_TOPIC, "note", {"conversation_id": conversation_id, "note": note_body(note), "assignee_id": agent.id})
        return note

    async def transfer(self, agent: AgentView, conversation_id: str, to_username: str) -> dict:
        handoff = await self._run(queue.transfer, conversation_id=conversation_id, agent_id=agent.id, to_username=to_username)
        target = handoff.agent
        conversation = await self.conversation(conversation_id)
        await self._push(conversation, target.id, sender="system", text=say("handoff_transferred", agent=target.name))
        self._publish_state(conversation_id, {"state": "assigned", "agent": {"name": target.name}})
        self.queue_changed()
        return {"conversation_id": conversation_id, "agent": {"username": target.username, "name": target.name}}

    async def resolve(self, agent: AgentView, conversation_id: str) -> dict:
        handoff = await self._run(queue.resolve, conversation_id=conversation_id, agent_id=agent.id)
        conversation = await self.conversation(conversation_id)
        text = say("handoff_resolved")
        buttons = [
            {"title": say("handoff_rating_button", stars=stars), "payload": f"@rate:{handoff.id}:{stars}"}
            for stars in range(queue.RATING_MIN, queue.RATING_MAX + 1)
        ]
        await self._push(conversation, agent.id, sender="bot", text=text, buttons=buttons)
        self._publish_state(conversation_id, {"state": "bot"})
        self.queue_changed()
        await self.chat.tell_rasa(conversation, text, reset_slots=["pending_offer"])
        return {"conversation_id": conversation_id, "state": "bot"}

    async def unlock(self, agent: AgentView, conversation_id: str, *, identity_verified: bool) -> dict:
        if identity_verified is not True:
            raise AgentActionRefused(say("console_identity_unverified"), 422)
        await self._run(queue.record_action, conversation_id=conversation_id, agent_id=agent.id, action="wallet_unlock_requested")
        conversation = await self.conversation(conversation_id)
        if not conversation.customer_id:
            raise AgentActionRefused(say("console_visitor_no_wallet"), 409)
        wallet_uow = self.uow
        before = await run_in_threadpool(get_balance, wallet_uow(), conversation.customer_id)
        if before.status == "active":
            raise AgentActionRefused(say("console_wallet_not_locked"), 409)
        after = await run_in_threadpool(
            lambda: unlock_wallet(wallet_uow(), customer_id=conversation.customer_id, actor=actor(agent.username))
        )
        await self._run(
            queue.record_action, conversation_id=conversation_id, agent_id=agent.id, action="wallet_unlocked",
            details={"customer_id": conversation.customer_id, "previous_status": before.status, "identity_verified": True},
        )
        await self._push(conversation, agent.id, sender="system", text=say("handoff_wallet_unlocked"))
        return {"conversation_id": conversation_id, "wallet_status": after.status}

    async def set_status(self, agent: AgentView, status: str) -> AgentView:
        view = await self._run(agents.set_status, agent_id=agent.id, status=status)
        self.queue_changed()
        return view

    async def sign_out(self, token: str) -> None:
        """End the session; the agent's open conversations go back to the queue, at its front."""
        agent = await self._run(agents.logout, token)
        if agent is None:
            return
        for conversation_id in await self._run(queue.release_agent, agent_id=agent.id):
            conversation = await self.conversation(conversation_id)
            await self._push(conversation, None, sender="system", text=say("handoff_requeued"))
            self._publish_state(conversation_id, await self.public_state(conversation_id))
        self.queue_changed()
        await self.announce_positions()

    async def transcript(self, conversation_id: str) -> list[MessageView]:
        messages: list[MessageView] = []
        after = 0
        while len(messages) < TRANSCRIPT_MESSAGES_MAX:
            page = await run_in_threadpool(self.chat.store.messages_after, conversation_id, after)
            if not page:
                break
            messages.extend(page)
            after = page[-1].id
        return messages[:TRANSCRIPT_MESSAGES_MAX]

    async def customer_context(self, customer_id: str | None) -> dict | None:
        """What the agent may see about a verified (signed-in or bound) customer, masked."""
        if not customer_id:
            return None
        return await run_in_threadpool(self._customer_context, customer_id)

    def _customer_context(self, customer_id: str) -> dict | None:
        wallet_uow = self.uow
        try:
            customer = get_customer(wallet_uow(), customer_id)
            balance = get_balance(wallet_uow(), customer_id)
            now = datetime.now(timezone.utc)
            history = list_transactions(
                wallet_uow(), customer_id, now - timedelta(days=CONTEXT_HISTORY_DAYS), now + timedelta(minutes=1), limit=CONTEXT_TRANSACTIONS
            )
            draft = latest_open_draft(wallet_uow(), customer_id)
        except WalletError:
            return None
        return {
            "name": customer.masked_name,
            "phone": customer.phone_masked,
            "wallet_no": customer.wallet_no_masked,
            "cards": [f"{card.bank} 尾号{card.last4}" for card in customer.cards],
            "wallet": {
                "status": balance.status,
                "lock_reason": balance.lock_reason,
                "locked_until": _iso(balance.locked_until),
                "balance": format_yuan(balance.balance_fen),
            },
            "transactions": [
                {"at": _iso(item.at), "amount": format_yuan(item.amount_fen), "incoming": item.amount_fen > 0,
                 "counterparty": item.counterparty, "memo": item.memo, "kind": item.kind}
                for item in history.items
            ],
            "drafts": [] if draft is None else [
                {"recipient": draft.recipient_display, "amount": format_yuan(draft.amount_fen), "status": draft.status,
                 "expires_at": _iso(draft.expires_at), "pin_verified": draft.pin_verified}
            ],
        }


def note_body(note: queue.NoteView) -> dict:
    return {"id": note.id, "author": note.author, "text": note.text, "created_at": _iso(note.created_at)}
