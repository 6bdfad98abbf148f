"""Matching what the customer typed against the names of their saved recipients.

Plain functions over plain values: the service loads the names, these score them. A name scores by
its characters (rapidfuzz) and by its sound, syllable by syllable (pypinyin without tones): 张叁 finds
张三 and 李思 finds 李四 (same sound, 95), 张山 finds 张三 (the usual fuzzy-pinyin pairs zh/z, ch/c, sh/s,
n/l, ang/an, eng/en, ing/in: 90). A homophone scores below the exact name, so the exact one ranks first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz

SCORE_MIN = 60  # below this a name is not a candidate at all
SCORE_BAND = 10  # candidates this close to the best one are shown together (ambiguous)
SAME_SOUND_SCORE = 95  # every syllable sounds the same, tones aside
NEAR_SOUND_SCORE = 90  # every syllable the same up to a fuzzy-pinyin pair
PARTIAL_SOUND_WEIGHT = 0.9  # some syllables the same: their share, scaled down
QUERY_CHARS_MAX = 40

_NOISE = re.compile(r"[\s\-_.,，。、·•'\"“”‘’()（）\[\]【】<>《》:：;；!！?？]+")


@dataclass(frozen=True)
class NameEntry:
    """One recipient and every name it may be called by (the saved alias, the real name)."""

    key: Hashable
    names: tuple[str, ...]


@dataclass(frozen=True)
class NameMatch:
    key: Hashable
    name: str
    score: int


def normalize_query(text: str) -> str:
    """Full-width to half-width, no spaces or punctuation, at most QUERY_CHARS_MAX characters."""
    text = unicodedata.normalize("NFKC", text or "")
    return _NOISE.sub("", text)[:QUERY_CHARS_MAX]


def digits_only(text: str) -> str | None:
    """"138 1234-5678" → "13812345678"; None when the text is not a number."""
    compact = normalize_query(text).removeprefix("+86")
    return compact if compact.isascii() and compact.isdigit() else None


_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))


@lru_cache(maxsize=4096)
def syllables(text: str) -> tuple[str, ...]:
    return tuple(s.lower() for s in lazy_pinyin(text, style=Style.NORMAL, errors="default"))


def _loose(syllable: str) -> str:
    """Fold the pairs Chinese speakers (and input methods) confuse: zh/z, ch/c, sh/s, n/l, -ng/-n."""
    for heavy, light in _FUZZY_INITIALS:
        if syllable.startswith(heavy):
            syllable = light + syllable[len(heavy) :]
            break
    if syllable.endswith(("ang", "eng", "ing")):
        syllable = syllable[:-1]
    return syllable


def sound_score(query: str, name: str) -> float:
    heard, known = syllables(query), syllables(name)
    if query.isascii() and query.isalpha():  # typed in pinyin: "lisi", "zhangsan"
        return fuzz.ratio(query.lower(), "".join(known)) * PARTIAL_SOUND_WEIGHT
    if heard == known:
        return SAME_SOUND_SCORE
    loose_heard, loose_known = [_loose(s) for s in heard], [_loose(s) for s in known]
    if loose_heard == loose_known:
        return NEAR_SOUND_SCORE
    return fuzz.ratio(loose_heard, loose_known) * PARTIAL_SOUND_WEIGHT


def name_score(query: str, name: str) -> int:
    """0–100: 100 for the same name, 95 for the same sound, 90 for a fuzzy-pinyin sound, less for near misses."""
    query, name = normalize_query(query), normalize_query(name)
    if not query or not name:
        return 0
    if query == name:
        return 100
    by_characters = fuzz.ratio(query, name)
    return int(round(min(99.0, max(by_characters, sound_score(query, name)))))


def rank_names(query: str, entries: Iterable[NameEntry]) -> list[NameMatch]:
    """The best-scoring entries, best first: one when it clearly wins, several when they are close."""
    best_per_key: dict[Hashable, NameMatch] = {}
    for entry in entries:
        for name in entry.names:
            score = name_score(query, name)
            current = best_per_key.get(entry.key)
            if current is None or score > current.score:
                best_per_key[entry.key] = NameMatch(entry.key, name, score)
    matches = sorted(
        (m for m in best_per_key.values() if m.score >= SCORE_MIN), key=lambda m: (-m.score, str(m.key))
    )
    if not matches:
        return []
    top = matches[0].score
    return [m for m in matches if m.score >= top - SCORE_BAND]
