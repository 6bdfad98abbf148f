"""Scrub PINs from Rasa's tracker store (`walletbot scrub-trackers`): the counterpart of migration 0006.

Rasa keeps every user event's raw text (and its parse data, entities, slots filled from it) in its own
store: a SQLite file per Rasa port (`var/rasa-tracker-<port>.db`) or the PostgreSQL database of
TRACKER_STORE_URL, table `events` (id, sender_id, type_name, timestamp, data as JSON text). Each
conversation is walked in order with the rules of `bot.secret_text`: a user text that names a secret, or
holds one six-digit run within 10 minutes of a bot PIN/SMS-code request, is a secret; those digits are
then replaced in every string of every event of that conversation. Idempotent; safe while Rasa runs
(each message re-reads its tracker), though best run with Rasa stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bot.secret_text import ConversationScrubber, scrub_strings

events = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("sender_id", sa.String),
    sa.column("type_name", sa.String),
    sa.column("timestamp", sa.Float),
    sa.column("data", sa.Text),
)


@dataclass(frozen=True)
class ScrubReport:
    store: str
    conversations: int
    events_rewritten: int


def tracker_store_urls(tracker_store_url: str, var_dir: Path) -> list[str]:
    """The stores to scrub: TRACKER_STORE_URL when set, else every `rasa-tracker-*.db` under var/."""
    if tracker_store_url:
        scheme, _, rest = tracker_store_url.partition("://")
        if scheme in {"postgres", "postgresql"}:
            scheme = "postgresql+psycopg"
        return [f"{scheme}://{rest}"]
    return [f"sqlite:///{path}" for path in sorted(var_dir.glob("rasa-tracker-*.db"))]


def _is_pin_request(data: dict) -> bool:
    custom = (data.get("data") or {}).get("custom") if isinstance(data.get("data"), dict) else None
    return isinstance(custom, dict) and custom.get("type") == "pin_request"


def _conversation_changes(rows: list) -> list[tuple[int, str]]:
    scrubber, secrets, parsed = ConversationScrubber(), set(), []
    for row in rows:
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            continue
        at = float(row.timestamp or data.get("timestamp") or 0.0)
        if row.type_name == "bot" and _is_pin_request(data):
            scrubber.asked(at)
        elif row.type_name == "user" and isinstance(data.get("text"), str):
            secrets |= scrubber.secrets(data["text"], at)
        parsed.append((row.id, data))
    if not secrets:
        return []
    changes = []
    for event_id, data in parsed:
        scrubbed = scrub_strings(data, secrets)
        if scrubbed != data:
            changes.append((event_id, json.dumps(scrubbed, ensure_ascii=False)))
    return changes


def scrub_tracker_store(url: str) -> ScrubReport:
    """Rewrite the events of one tracker store; returns what was done."""
    engine = sa.create_engine(url)
    rewritten = conversations = 0
    try:
        with engine.begin() as connection:
            if not sa.inspect(connection).has_table("events"):
                return ScrubReport(engine.url.render_as_string(hide_password=True), 0, 0)
            senders = connection.execute(sa.select(events.c.sender_id).distinct()).scalars().all()
            update = sa.update(events).where(events.c.id == sa.bindparam("event_id")).values(data=sa.bindparam("new_data"))
            for sender_id in senders:
                rows = connection.execute(
                    sa.select(events.c.id, events.c.type_name, events.c.timestamp, events.c.data)
                    .where(events.c.sender_id == sender_id)
                    .order_by(events.c.id)
                ).all()
                changes = _conversation_changes(rows)
                if changes:
                    connection.execute(update, [{"event_id": i, "new_data": d} for i, d in changes])
                    conversations += 1
                    rewritten += len(changes)
        return ScrubReport(engine.url.render_as_string(hide_password=True), conversations, rewritten)
    finally:
        engine.dispose()
