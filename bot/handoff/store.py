"""Storing and reading conversations and transcripts.

Customer text is stored with ID, card and phone numbers masked. Button payloads stay on the server:
clients see a short id and a title, and send the id back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import read_only_session
from bot.handoff.models import ChatMessage, Conversation, utcnow
from bot.masking import mask_personal_numbers

SENDERS = ("customer", "bot", "agent", "system")
MESSAGES_PAGE_MAX = 200


class HandoffError(Exception):
    """Base of the handoff package's errors."""


class ConversationNotFound(HandoffError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id


class ButtonNotFound(HandoffError):
    def __init__(self, message_id: int, button_id: str) -> None:
        super().__init__(f"{message_id}/{button_id}")
        self.message_id = message_id
        self.button_id = button_id


@dataclass(frozen=True)
class ConversationView:
    id: str
    channel: str
    external_id: str
    customer_id: str | None
    state: str
    awaiting_secret: str | None = None
    awaiting_draft_id: str | None = None
    shown_draft_id: str | None = None  # the draft whose summary the customer last saw


@dataclass(frozen=True)
class MessageView:
    id: int
    conversation_id: str
    sender: str
    text: str
    buttons: tuple[dict, ...] = ()
    custom: dict | None = None
    created_at: datetime = field(default_factory=utcnow)

    def public(self) -> dict[str, Any]:
        """The form clients see: button payloads are left out."""
        data: dict[str, Any] = {
            "id": self.id,
            "sender": self.sender,
            "text": self.text,
            "created_at": _iso(self.created_at),
        }
        if self.buttons:
            data["buttons"] = [{"id": b["id"], "title": b["title"]} for b in self.buttons]
        if self.custom:
            data["custom"] = self.custom
        return data


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()


def _conversation_view(row: Conversation) -> ConversationView:
    return ConversationView(
        row.id, row.channel, row.external_id, row.customer_id, row.state, row.awaiting_secret, row.awaiting_draft_id,
        row.shown_draft_id,
    )


def _message_view(row: ChatMessage) -> MessageView:
    return MessageView(
        id=row.id,
        conversation_id=row.conversation_id,
        sender=row.sender,
        text=row.text,
        buttons=tuple(row.buttons or ()),
        custom=row.custom,
        created_at=row.created_at,
    )


def _message_row(
    conversation_id: str, *, sender: str, text: str, buttons: list[dict] | None = None, custom: dict | None = None
) -> ChatMessage:
    if sender not in SENDERS:
        raise ValueError(f"unknown sender {sender!r}")
    if sender == "customer":
        text = mask_personal_numbers(text)
    stored_buttons = [
        {"id": f"b{index}", "title": str(b.get("title", ""))[:64], "payload": str(b.get("payload", ""))}
        for index, b in enumerate(buttons or [], start=1)
    ]
    return ChatMessage(
        conversation_id=conversation_id, sender=sender, text=text, buttons=stored_buttons or None, custom=custom or None
    )


def _by_channel_user(channel: str, external_id: str):
    return select(Conversation).where(Conversation.channel == channel, Conversation.external_id == external_id)


class ChatStore:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def open_conversation(self, *, channel: str, external_id: str, customer_id: str | None) -> ConversationView:
        """The conversation of this channel user, created on first contact."""
        with read_only_session(self._sessions) as session:  # the usual case: it exists and nothing changed
            row = session.scalars(_by_channel_user(channel, external_id)).first()
            if row is not None and row.customer_id == customer_id:
                return _conversation_view(row)
        with self._sessions() as session:
            row = session.scalars(_by_channel_user(channel, external_id)).first()
            if row is not None and row.customer_id != customer_id:
                # Bound, unbound or rebound since the last message: the channel's identity decides.
                row.customer_id = customer_id
                row.updated_at = utcnow()
                session.commit()
            if row is None:
                row = Conversation(
                    id=secrets.token_hex(16), channel=channel, external_id=external_id, customer_id=customer_id
                )
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:  # created concurrently by the same user's other request
                    session.rollback()
                    row = session.scalars(_by_channel_user(channel, external_id)).one()
            return _conversation_view(row)

    def find_conversation(self, *, channel: str, external_id: str) -> ConversationView | None:
        """The conversation of this channel user, or None before their first message (nothing is created)."""
        with read_only_session(self._sessions) as session:
            row = session.scalars(_by_channel_user(channel, external_id)).first()
            return _conversation_view(row) if row is not None else None

    def get_conversation(self, conversation_id: str) -> ConversationView:
        with read_only_session(self._sessions) as session:
            row = session.get(Conversation, conversation_id)
            if row is None:
                raise ConversationNotFound(conversation_id)
            return _conversation_view(row)

    def append(
        self,
        conversation_id: str,
        *,
        sender: str,
        text: str,
        buttons: list[dict] | None = None,
        custom: dict | None = None,
    ) -> MessageView:
        return self.append_many(conversation_id, [{"sender": sender, "text": text, "buttons": buttons, "custom": custom}])[0]

    def append_many(
        self, conversation_id: str, messages: list[dict], *, awaiting: tuple[str | None, str | None] | None = None,
        shown_draft_id: str | None = None,
    ) -> list[MessageView]:
        """Append messages (each: sender, text, optional buttons and custom) in one transaction; with
        `awaiting` (secret kind, draft id), also set what the bot now waits for, as `set_awaiting` does;
        with `shown_draft_id`, remember it as the draft whose summary the customer saw last."""
        rows = [_message_row(conversation_id, **message) for message in messages]
        with self._sessions() as session:
            if awaiting is not None or shown_draft_id is not None:
                conversation = session.get(Conversation, conversation_id)
                if conversation is None:
                    raise ConversationNotFound(conversation_id)
                if awaiting is not None:
                    conversation.awaiting_secret, conversation.awaiting_draft_id = awaiting
                if shown_draft_id is not None:
                    conversation.shown_draft_id = shown_draft_id
                conversation.updated_at = utcnow()
            session.add_all(rows)
            session.commit()
            return [_message_view(row) for row in rows]

    def messages_after(self, conversation_id: str, after_id: int = 0, *, limit: int = MESSAGES_PAGE_MAX) -> list[MessageView]:
        with read_only_session(self._sessions) as session:
            rows = session.scalars(
                select(ChatMessage)
                .where(ChatMessage.conversation_id == conversation_id, ChatMessage.id > after_id)
                .order_by(ChatMessage.id)
                .limit(min(limit, MESSAGES_PAGE_MAX))
            ).all()
            return [_message_view(row) for row in rows]

    def secret_requested_since(self, conversation_id: str, since: datetime) -> bool:
        """Whether the bot asked this conversation for a PIN or SMS code at or after `since`."""
        customs = self._recent_customs(conversation_id, "bot", since)
        return any(isinstance(custom, dict) and custom.get("type") == "pin_request" for custom in customs)

    def last_custom(self, conversation_id: str, custom_type: str, *, since: datetime) -> dict | None:
        """The `custom` of the newest gateway (system) message of this type stored at or after `since`."""
        customs = self._recent_customs(conversation_id, "system", since)
        return next((c for c in customs if isinstance(c, dict) and c.get("type") == custom_type), None)

    def _recent_customs(self, conversation_id: str, sender: str, since: datetime) -> list:
        """The `custom` of this sender's messages stored at or after `since`, newest first (one page)."""
        with read_only_session(self._sessions) as session:
            return list(session.scalars(
                select(ChatMessage.custom)
                .where(ChatMessage.conversation_id == conversation_id, ChatMessage.sender == sender, ChatMessage.created_at >= since)
                .order_by(ChatMessage.id.desc())
                .limit(MESSAGES_PAGE_MAX)
            ).all())

    def set_awaiting(self, conversation_id: str, *, secret: str | None, draft_id: str | None) -> None:
        """Remember that the bot asked for a PIN or SMS code (or, with None, that it no longer does)."""
        self.append_many(conversation_id, [], awaiting=(secret, draft_id))

    def button(self, conversation_id: str, message_id: int, button_id: str) -> dict:
        """The stored button (title and payload) a customer clicked, from their own conversation."""
        with read_only_session(self._sessions) as session:
            row = session.get(ChatMessage, message_id)
            if row is None or row.conversation_id != conversation_id:
                raise ButtonNotFound(message_id, button_id)
            for button in row.buttons or ():
                if button["id"] == button_id:
                    return dict(button)
            raise ButtonNotFound(message_id, button_id)
