"""Keeping the cost of a message flat in long conversations.

Rasa's SQL tracker store loads only the current session's events, and the action server receives
only those; but within one busy session they still grow with every turn. After
`rasa_session_turns_max` customer messages the gateway starts a new Rasa session (the trusted
`/session_start` payload, which never comes from customer text), unless a task is running: a form
is active, or a PIN, confirmation or offer is pending.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from bot.gateway.rasa_client import RasaClient, RasaUnavailable

log = logging.getLogger(__name__)
TRACKED_CONVERSATIONS_MAX = 50_000
BUSY_SLOTS = ("draft_id", "transfer_step", "requested_slot", "fallback_streak")
BUSY_OFFERS = ("transfer", "freeze")  # an offer of a person ("human") is cheap to lose; these are not


def task_running(state: dict) -> bool:
    """Whether a tracker state (`GET /conversations/<id>/tracker`) shows a transfer, PIN, confirmation or
    freeze offer under way."""
    slots = state.get("slots") or {}
    return bool(
        (state.get("active_loop") or {}).get("name")
        or any(slots.get(s) for s in BUSY_SLOTS)
        or slots.get("pending_offer") in BUSY_OFFERS
    )


class SessionKeeper:
    def __init__(self, rasa: RasaClient, *, turns_max: int) -> None:
        self.rasa = rasa
        self.turns_max = turns_max
        self._turns: OrderedDict[str, int] = OrderedDict()

    async def before_message(self, conversation_id: str, *, busy: bool = False) -> bool:
        """Count one customer message; start a fresh Rasa session when this one is long. True if it did."""
        turns = self._turns.pop(conversation_id, 0) + 1
        self._turns[conversation_id] = turns
        if len(self._turns) > TRACKED_CONVERSATIONS_MAX:
            self._turns.popitem(last=False)
        if turns <= self.turns_max or busy:
            return False
        try:
            if task_running(await self.rasa.tracker_state(conversation_id)):
                return False
            await self.rasa.send(conversation_id, "/session_start", {})
        except RasaUnavailable as exc:
            log.info("session rollover skipped for %s: %s", conversation_id, exc)
            return False
        self._turns[conversation_id] = 1
        return True
