"""In-process fan-out of new conversation messages to live listeners (Server-Sent Events)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

LISTENER_QUEUE_MAX = 256


class Hub:
    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue]] = defaultdict(set)

    def subscribe(self, conversation_id: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=LISTENER_QUEUE_MAX)
        self._listeners[conversation_id].add(queue)
        return queue

    def unsubscribe(self, conversation_id: str, queue: asyncio.Queue) -> None:
        listeners = self._listeners.get(conversation_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                self._listeners.pop(conversation_id, None)

    def publish(self, conversation_id: str, event: str, data: dict) -> None:
        for queue in list(self._listeners.get(conversation_id, ())):
            try:
                queue.put_nowait((event, data))
            except asyncio.QueueFull:  # a stalled listener re-reads history when it reconnects
                pass
