"""Actions run in-process: a CollectingDispatcher, a tracker built from a dict, the real ledger on a
fresh SQLite file with the demo data — no Rasa, no gateway, no HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.identity import METADATA_KEY, sign_identity

SECRET = "actions-tests-secret-0123456789abcdef"
SENDER = "conv-actions-test"


@pytest.fixture()
def ledger(tmp_path, monkeypatch) -> Iterator[str]:
    """A migrated SQLite database with the demo world; the actions' cached settings point at it."""
    from bot import db, settings
    from bot.wallet import SqlAlchemyUnitOfWork, seed_demo

    url = f"sqlite:///{tmp_path / 'actions.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("WALLETBOT_SECRET", SECRET)
    monkeypatch.setenv("WALLETBOT_PIN_HASH_TIME_COST", "1")
    monkeypatch.setenv("WALLETBOT_PIN_HASH_MEMORY_KIB", "1024")
    settings.get_settings.cache_clear()  # the engine and session factory are cached per URL: a new URL, a new one
    db.upgrade_database(url)
    seed_demo(SqlAlchemyUnitOfWork(db.get_session_factory()))
    yield url
    settings.get_settings.cache_clear()


@dataclass
class Conversation:
    """Slots carried from turn to turn, as Rasa's tracker would carry them."""

    customer_id: str | None
    slots: dict = field(default_factory=dict)
    replies: list[dict] = field(default_factory=list)

    def tracker(self, text: str, intent: str, entities: list[dict] | None = None) -> Tracker:
        metadata = {"channel": "web"}
        if self.customer_id:
            metadata[METADATA_KEY] = sign_identity(SECRET, customer_id=self.customer_id, sender=SENDER, text=text, now=time.time())
        latest = {"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": entities or [], "metadata": metadata}
        return Tracker(SENDER, dict(self.slots), latest, [], False, None, {}, "action_listen")

    def run(self, action, text: str, intent: str, entities: list[dict] | None = None) -> list[dict]:
        dispatcher = CollectingDispatcher()
        events = action.run(dispatcher, self.tracker(text, intent, entities), {})
        for event in events:
            if isinstance(event, dict) and event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        self.replies = dispatcher.messages
        return dispatcher.messages

    @property
    def text(self) -> str:
        return "\n".join(str(m.get("text") or "") for m in self.replies)


def slot_events(events: list) -> dict:
    return {e["name"]: e["value"] for e in events if isinstance(e, dict) and e.get("event") == "slot"} if events else {}


__all__ = ["Conversation", "SlotSet", "slot_events"]
