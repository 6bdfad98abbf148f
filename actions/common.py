"""What every action reads from the tracker, and how it reaches the ledger."""

from __future__ import annotations

import logging

import json
import re
from functools import lru_cache

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import phrases
from bot.db import get_session_factory
from bot.identity import METADATA_KEY, IdentityInvalid, ReplayGuard, verify_identity
from bot.sealing import unseal
from bot.settings import get_settings
from bot.textnorm import normalize
from bot.wallet import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)


def uow() -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(get_session_factory())


def reader() -> SqlAlchemyUnitOfWork:
    """A unit of work that only reads: balances, history, recipients (never queues for SQLite's write lock)."""
    return SqlAlchemyUnitOfWork(get_session_factory(), read_only=True)


def customer_of(tracker: Tracker) -> str | None:
    """The customer the gateway vouched for in this message of this conversation, or None.

    The identity is bound to the text of the message it came with (`bot.identity`): one copied onto
    another message, e.g. another amount or recipient, is refused."""
    settings = get_settings()
    metadata = tracker.latest_message.get("metadata")
    try:
        identity = verify_identity(
            settings.secret, metadata, sender=tracker.sender_id, text=str(tracker.latest_message.get("text") or ""),
            max_age_s=settings.identity_max_age_s,
        )
        turn_id = tracker.latest_message.get("message_id")
        if turn_id:  # Rasa's id of this user message: the turn this identity may serve
            _replays(settings.identity_max_age_s).check(identity, str(turn_id))
    except IdentityInvalid as error:
        if isinstance(metadata, dict) and METADATA_KEY in metadata:  # an identity was there, and it did not hold
            log.warning("security: identity refused in conversation %s: %s", tracker.sender_id, error)
        return None
    return identity.customer_id


@lru_cache(maxsize=1)
def _replays(ttl_s: int) -> ReplayGuard:
    """One guard for this action server process (identities outlive no restart by more than their age)."""
    return ReplayGuard(ttl_s=ttl_s + 60)


NUMBER_TOKEN = re.compile(r"【号码(\d+)】")
NUMBERS_METADATA_KEY = "sealed_numbers"  # bot.gateway.chat: phone and wallet numbers, sealed for the actions


def latest_text(tracker: Tracker) -> str:
    """The customer's message as they wrote it (normalised): the gateway's number tokens are put back
    from the sealed metadata, so a recipient's phone is read here and nowhere in Rasa's tracker."""
    text = normalize(str(tracker.latest_message.get("text") or ""))
    if "【号码" not in text:
        return text
    sealed = (tracker.latest_message.get("metadata") or {}).get(NUMBERS_METADATA_KEY)
    try:
        numbers = json.loads(unseal(get_settings().secret, sealed) or "[]")
    except ValueError:
        numbers = []

    def number(match: re.Match) -> str:
        index = int(match.group(1)) - 1
        return str(numbers[index]) if 0 <= index < len(numbers) else ""

    return NUMBER_TOKEN.sub(number, text)


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
