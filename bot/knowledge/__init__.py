"""The FAQ knowledge base: one source of truth for every answer the bot gives from `knowledge/`.

`KnowledgeBase.lookup(text, intent=..., entities=...)` picks the entry that answers a classified
question (by entity first, then by similarity over the entry's question variants);
`KnowledgeBase.search(text)` ranks all entries when NLU is unsure. Answers are rendered when the file
is loaded: placeholders such as `{transfer_limit}` or `{business_hours}` are filled in from
`bot.settings` (see `PLACEHOLDERS`), so `entry.answer` / `hit.answer` is always the text to send.

Errors:

    KnowledgeError
    ├── KnowledgeFileInvalid            the file cannot be read, or an entry is malformed
    │   ├── EntryIntentUnknown          an entry's intent is not declared in domain.yml
    │   └── EntryTooFewQuestions        an entry has fewer than QUESTIONS_MIN question variants
    └── UnknownEntry                    no entry has the id asked for
"""

from __future__ import annotations

from bot.knowledge.base import (
    FAQ_FILE,
    PLACEHOLDERS,
    QUESTIONS_MIN,
    Entry,
    EntryIntentUnknown,
    EntryTooFewQuestions,
    Hit,
    KnowledgeBase,
    KnowledgeError,
    KnowledgeFileInvalid,
    UnknownEntry,
    domain_intents,
    get_knowledge_base,
    placeholder_values,
    placeholders_in,
)

__all__ = [
    "FAQ_FILE",
    "PLACEHOLDERS",
    "QUESTIONS_MIN",
    "Entry",
    "EntryIntentUnknown",
    "EntryTooFewQuestions",
    "Hit",
    "KnowledgeBase",
    "KnowledgeError",
    "KnowledgeFileInvalid",
    "UnknownEntry",
    "domain_intents",
    "get_knowledge_base",
    "placeholder_values",
    "placeholders_in",
]
