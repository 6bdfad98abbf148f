"""The FAQ knowledge base: one source of truth for every answer the bot gives from `knowledge/`.

`KnowledgeBase.lookup(text, intent=..., entities=...)` picks the entry that answers a classified
question (by entity first, then by similarity over the entry's question variants);
`KnowledgeBase.search(text)` ranks all entries when NLU is unsure.

Errors: `KnowledgeError > {KnowledgeFileInvalid, UnknownEntry}`.
"""

from __future__ import annotations

from bot.knowledge.base import (
    Entry,
    Hit,
    KnowledgeBase,
    KnowledgeError,
    KnowledgeFileInvalid,
    UnknownEntry,
    get_knowledge_base,
)

__all__ = [
    "Entry",
    "Hit",
    "KnowledgeBase",
    "KnowledgeError",
    "KnowledgeFileInvalid",
    "UnknownEntry",
    "get_knowledge_base",
]
