"""What every action reads from the tracker, and how it reaches the ledger."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import phrases
from bot.db import get_session_factory
from bot.identity import IdentityInvalid, verify_identity
from bot.settings import get_settings
from bot.textnorm import normalize
from bot.wallet import SqlAlchemyUnitOfWork


def uow() -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(get_session_factory())


def reader() -> SqlAlchemyUnitOfWork:
    """A unit of work that only reads: balances, history, recipients (never queues for SQLite's write lock)."""
    return SqlAlchemyUnitOfWork(get_session_factory(), read_only=True)


def customer_of(tracker: Tracker) -> str | None:
    """The customer the gateway vouched for in this conversation, or None."""
    settings = get_settings()
    try:
        identity = verify_identity(
            settings.secret, tracker.latest_message.get("metadata"), sender=tracker.sender_id, max_age_s=settings.identity_max_age_s
        )
    except IdentityInvalid:
        return None
    return identity.customer_id


def latest_text(tracker: Tracker) -> str:
    return normalize(str(tracker.latest_message.get("text") or ""))


def latest_intent(tracker: Tracker) -> str:
    return str((tracker.latest_message.get("intent") or {}).get("name") or "")


def entity_value(tracker: Tracker, name: str) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == name and entity.get("value"):
            return str(entity["value"])
    return None


def latest_entities(tracker: Tracker) -> dict[str, str]:
    return {e["entity"]: str(e.get("value")) for e in tracker.latest_message.get("entities") or [] if "entity" in e}


def refuse_anonymous(dispatcher: CollectingDispatcher) -> list:
    dispatcher.utter_message(text=phrases.say("login_required"))
    return []
