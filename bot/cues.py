"""Word cues beside the NLU model, from `knowledge/cues.yml`: `cues.match("wants_person", text)`.

The model decides what a message is about; a cue settles what the model cannot see in one label:
whether "转人工" is a request or "人工几点下班" a question, whether a message in the queue gives up
waiting, whether a transfer message corrects the last one. Patterns are data, not code.
"""

from __future__ import annotations

import re
from functools import lru_cache

import yaml

from bot.settings import ROOT
from bot.textnorm import normalize

CUES_FILE = ROOT / "knowledge" / "cues.yml"


class UnknownCue(KeyError):
    """No cue of that name in cues.yml."""


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    document = yaml.safe_load(CUES_FILE.read_text(encoding="utf-8"))
    return {name: re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) for name, patterns in document["cues"].items()}


@lru_cache(maxsize=1)
def also_called() -> dict[str, tuple[str, ...]]:
    """Other words for a saved alias: {"妈妈": ("我妈", "老妈", …)}."""
    document = yaml.safe_load(CUES_FILE.read_text(encoding="utf-8"))
    return {str(alias): tuple(str(w) for w in words) for alias, words in (document.get("also_called") or {}).items()}


def match(cue: str, text: str) -> bool:
    """Whether the message (normalised here) carries the cue."""
    try:
        pattern = _patterns()[cue]
    except KeyError:
        raise UnknownCue(cue) from None
    return pattern.search(normalize(text or "")) is not None
