"""What the bot's sentences look like, read from the same files the bot reads: `knowledge/phrases.yml`
(phrase keys), `knowledge/faq.yml` (through `bot.knowledge`) and `domain.yml` (Rasa's own responses).

A phrase with placeholders ("您还可以再试 {attempts_left} 次") becomes a pattern in which each
placeholder matches any text. A key that does not exist is `PhraseMissing`, which the checkers report
as "phrase X not defined". Everything is read once per run, like the stack started for it; FAQ
answers are rendered with the stack's settings (`use_settings`), as the action server renders them.
"""

from __future__ import annotations

import re
from functools import lru_cache

import yaml

from bot.knowledge import KnowledgeBase, get_knowledge_base
from bot.phrases import PHRASES_FILE
from bot.settings import ROOT, Settings

PLACEHOLDER = re.compile(r"\{[^{}]*\}")
ANSWER_PREFIX_CHARS = 20
_stack_settings: list[Settings] = []


class PhraseMissing(KeyError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"phrase {self.key} not defined"


@lru_cache(maxsize=1)
def _phrases() -> dict[str, str]:
    document = yaml.safe_load(PHRASES_FILE.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (document.get("messages") or {}).items()}


@lru_cache(maxsize=1)
def _responses() -> dict[str, list[str]]:
    document = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {
        str(name): [str(variant["text"]) for variant in variants or [] if isinstance(variant, dict) and variant.get("text")]
        for name, variants in (document.get("responses") or {}).items()
    }


def phrase(key: str) -> str:
    """The raw phrase, placeholders and all."""
    try:
        return _phrases()[key]
    except KeyError:
        raise PhraseMissing(key) from None


def phrase_keys() -> list[str]:
    return list(_phrases())


def phrase_pattern(key: str) -> re.Pattern:
    """The phrase as a regular expression: its literal text, any text for each placeholder."""
    template = phrase(key).replace("{{", "\0").replace("}}", "\1")
    parts = PLACEHOLDER.split(template)
    literal = [re.escape(part.replace("\0", "{").replace("\1", "}")) for part in parts]
    return re.compile(r"[\s\S]+?".join(literal))


def phrase_start(key: str) -> str:
    """The phrase's literal beginning, up to its first placeholder."""
    return PLACEHOLDER.split(phrase(key), maxsplit=1)[0].strip()


def phrase_exact(key: str) -> str:
    """A phrase without placeholders, as the bot says it."""
    text = phrase(key)
    if PLACEHOLDER.search(text):
        raise ValueError(f"phrase {key} has placeholders: compare with phrase_pattern")
    return text


def response_texts(name: str) -> list[str]:
    """The text variants of a Rasa response of domain.yml (e.g. utter_out_of_scope); [] when none."""
    return _responses().get(name, [])


def use_settings(settings: Settings) -> None:
    """Render FAQ answers with these settings (the stack's), not this process's."""
    _stack_settings[:] = [settings]
    _knowledge.cache_clear()


@lru_cache(maxsize=1)
def _knowledge() -> KnowledgeBase:
    if _stack_settings:
        try:
            return KnowledgeBase.from_file(settings=_stack_settings[0])
        except TypeError:  # a knowledge base whose answers hold no settings
            pass
    return get_knowledge_base()


def answer_prefixes(intent: str) -> list[str]:
    """The beginning of every knowledge-base answer for this intent, as the bot sends it."""
    return [entry.answer.strip()[:ANSWER_PREFIX_CHARS] for entry in _knowledge().entries_for(intent)]
