"""The handoff package's errors beyond the transcript store's (see the tree in `bot.handoff`)."""

from __future__ import annotations

from datetime import datetime

from bot.handoff.store import HandoffError


class AgentError(HandoffError):
    """Base of agent account and sign-in errors."""


class AgentExists(AgentError):
    def __init__(self, username: str) -> None:
        super().__init__(username)
        self.username = username


class AgentNotFound(AgentError):
    def __init__(self, username: str) -> None:
        super().__init__(username)
        self.username = username


class AgentInvalid(AgentError):
    """A username, display name or password that breaks the rules (`reason` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LoginRejected(AgentError):
    """Wrong username or password (never says which)."""


class AgentLockedOut(AgentError):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


class SessionInvalid(AgentError):
    """No session, an expired one, or a forged one."""


class QueueError(HandoffError):
    """Base of queue and assignment errors."""


class NotWaiting(QueueError):
    """The conversation is not in the queue (already claimed, resolved or timed out)."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id


class NotYourConversation(QueueError):
    def __init__(self, conversation_id: str, username: str) -> None:
        super().__init__(f"{conversation_id} is not assigned to {username}")
        self.conversation_id = conversation_id
        self.username = username


class AgentOffline(QueueError):
    def __init__(self, username: str) -> None:
        super().__init__(username)
        self.username = username


class CapacityReached(QueueError):
    def __init__(self, username: str, capacity: int) -> None:
        super().__init__(f"{username} already serves {capacity} conversations")
        self.username = username
        self.capacity = capacity


class SameAgent(QueueError):
    def __init__(self, username: str) -> None:
        super().__init__(username)
        self.username = username


class RatingRejected(QueueError):
    """Not a rating this conversation may give now (already rated, not resolved, out of 1–5)."""

    def __init__(self, reason: str, *, already_rated: bool = False) -> None:
        super().__init__(reason)
        self.already_rated = already_rated


class TicketNotFound(QueueError):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(str(ticket_id))
        self.ticket_id = ticket_id
