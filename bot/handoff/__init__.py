"""Conversations, their transcripts, and the handoff to human agents.

A conversation is in one state: `bot`, `queued`, `assigned` or `resolved` (then `bot` again); outside
`bot`, customer messages go to an agent and never to Rasa. `bot.handoff.queue` holds the queue's
rules (priority, FIFO, capacity, business hours, timeouts, tickets, ratings), `bot.handoff.agents`
the agents and their console sign-in; both are plain Python over SQLAlchemy, one function per use case.

Errors:

    HandoffError
    ├── ConversationNotFound
    ├── ButtonNotFound
    ├── AgentError
    │   ├── AgentExists
    │   ├── AgentNotFound
    │   ├── AgentInvalid
    │   ├── LoginRejected
    │   ├── AgentLockedOut
    │   └── SessionInvalid
    └── QueueError
        ├── NotWaiting
        ├── NotYourConversation
        ├── AgentOffline
        ├── CapacityReached
        ├── SameAgent
        ├── RatingRejected
        └── TicketNotFound
"""

from bot.handoff.errors import (
    AgentError,
    AgentExists,
    AgentInvalid,
    AgentLockedOut,
    AgentNotFound,
    AgentOffline,
    CapacityReached,
    LoginRejected,
    NotWaiting,
    NotYourConversation,
    QueueError,
    RatingRejected,
    SameAgent,
    SessionInvalid,
    TicketNotFound,
)
from bot.handoff.store import (
    ButtonNotFound,
    ChatStore,
    ConversationNotFound,
    ConversationView,
    HandoffError,
    MessageView,
)

__all__ = [
    "AgentError",
    "AgentExists",
    "AgentInvalid",
    "AgentLockedOut",
    "AgentNotFound",
    "AgentOffline",
    "ButtonNotFound",
    "CapacityReached",
    "ChatStore",
    "ConversationNotFound",
    "ConversationView",
    "HandoffError",
    "LoginRejected",
    "MessageView",
    "NotWaiting",
    "NotYourConversation",
    "QueueError",
    "RatingRejected",
    "SameAgent",
    "SessionInvalid",
    "TicketNotFound",
]
