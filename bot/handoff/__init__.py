"""Conversations, their transcripts and (later) the agent queue.

A conversation is in one state: `bot`, `queued`, `assigned` or `resolved`; outside `bot`, customer
messages go to an agent and never to Rasa.

Errors: `HandoffError > {ConversationNotFound, ButtonNotFound}`.
"""

from bot.handoff.store import (
    ButtonNotFound,
    ChatStore,
    ConversationNotFound,
    ConversationView,
    HandoffError,
    MessageView,
)

__all__ = [
    "ButtonNotFound",
    "ChatStore",
    "ConversationNotFound",
    "ConversationView",
    "HandoffError",
    "MessageView",
]
