"""Loading and retrieval over `knowledge/faq.yml` (jieba tokens + rapidfuzz similarity)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import yaml
from rapidfuzz import fuzz

from bot.knowledge.tokens import content_tokens
from bot.settings import ROOT
from bot.textnorm import normalize

KNOWLEDGE_DIR = ROOT / "knowledge"
FAQ_FILE = KNOWLEDGE_DIR / "faq.yml"
FEE_TYPES = {"topup", "withdraw", "cross_border", "transfer", "open", "general"}
TITLE_CHARS_MAX = 12
LOOKUP_SCORE_MIN = 0.2  # below this, a classified question gets its intent's general answer


class KnowledgeError(Exception):
    """Base of the knowledge base's errors."""


class KnowledgeFileInvalid(KnowledgeError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnknownEntry(KnowledgeError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"no knowledge entry {entry_id!r}")
        self.entry_id = entry_id


@dataclass(frozen=True)
class Entry:
    id: str
    intent: str
    title: str
    answer: str
    questions: tuple[str, ...]
    fee_type: str | None = None
    # Precomputed normalised forms of the questions, for retrieval.
    _forms: tuple["_Form", ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float  # 0..1

    @property
    def answer(self) -> str:
        return self.entry.answer


def _features(text: str, tokens: str) -> frozenset[str]:
    """Content words plus character bigrams (so 跨境 still meets 境外 half-way)."""
    chars = "".join(ch for ch in text if ch.isalnum())
    return frozenset(tokens.split()) | frozenset(chars[i : i + 2] for i in range(len(chars) - 1))


def _similarity(text: str, features: frozenset[str], form: "_Form", idf: Mapping[str, float]) -> float:
    """IDF-weighted Jaccard over words and bigrams, blended with a character edit ratio."""
    union = features | form.features
    if not union:
        return 0.0
    weight = lambda items: sum(idf.get(item, _IDF_UNSEEN) for item in items)  # noqa: E731
    overlap = weight(features & form.features) / weight(union)
    return 0.75 * overlap + 0.25 * fuzz.ratio(text, form.text) / 100.0


_IDF_UNSEEN = 6.0


@dataclass(frozen=True)
class _Form:
    text: str
    features: frozenset[str]


class KnowledgeBase:
    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        self._by_id = {entry.id: entry for entry in self.entries}
        self._by_intent: dict[str, list[Entry]] = {}
        for entry in self.entries:
            self._by_intent.setdefault(entry.intent, []).append(entry)
        # Inverse document frequency of each feature over all question variants.
        forms = [form for entry in self.entries for form in entry._forms]
        counts: dict[str, int] = {}
        for form in forms:
            for feature in form.features:
                counts[feature] = counts.get(feature, 0) + 1
        self._idf = {feature: math.log(1 + len(forms) / count) for feature, count in counts.items()}

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: Path = FAQ_FILE) -> "KnowledgeBase":
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise KnowledgeFileInvalid(path, str(exc)) from exc
        if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
            raise KnowledgeFileInvalid(path, "expected a mapping with a list under 'entries'")
        entries, seen = [], set()
        for raw in document["entries"]:
            entry = cls._parse_entry(path, raw)
            if entry.id in seen:
                raise KnowledgeFileInvalid(path, f"duplicate id {entry.id!r}")
            seen.add(entry.id)
            entries.append(entry)
        return cls(entries)

    @staticmethod
    def _parse_entry(path: Path, raw: object) -> Entry:
        if not isinstance(raw, dict):
            raise KnowledgeFileInvalid(path, f"entry is not a mapping: {raw!r}")
        missing = [key for key in ("id", "intent", "title", "answer", "questions") if not raw.get(key)]
        if missing:
            raise KnowledgeFileInvalid(path, f"entry {raw.get('id')!r} lacks {', '.join(missing)}")
        title = str(raw["title"]).strip()
        if len(title) > TITLE_CHARS_MAX:
            raise KnowledgeFileInvalid(path, f"title of {raw['id']!r} is longer than {TITLE_CHARS_MAX}")
        fee_type = raw.get("fee_type")
        if fee_type is not None and fee_type not in FEE_TYPES:
            raise KnowledgeFileInvalid(path, f"entry {raw['id']!r} has unknown fee_type {fee_type!r}")
        questions = tuple(str(q).strip() for q in raw["questions"] if str(q).strip())
        forms = tuple(_Form(normalize(q), _features(normalize(q), content_tokens(q))) for q in (title, *questions))
        return Entry(
            id=str(raw["id"]),
            intent=str(raw["intent"]),
            title=title,
            answer=str(raw["answer"]).strip(),
            questions=questions,
            fee_type=fee_type,
            _forms=forms,
        )

    # -- queries ---------------------------------------------------------------------------------
    def get(self, entry_id: str) -> Entry:
        try:
            return self._by_id[entry_id]
        except KeyError:
            raise UnknownEntry(entry_id) from None

    def intents(self) -> set[str]:
        return set(self._by_intent)

    def entries_for(self, intent: str) -> list[Entry]:
        return list(self._by_intent.get(intent, ()))

    def _rank(self, text: str, entries: Iterable[Entry]) -> list[Hit]:
        text = normalize(text)
        features = _features(text, content_tokens(text))
        hits = [
            Hit(entry, max((_similarity(text, features, form, self._idf) for form in entry._forms), default=0.0))
            for entry in entries
        ]
        hits.sort(key=lambda hit: hit.score, reverse=True)
        return hits

    def lookup(
        self, text: str, *, intent: str, entities: Mapping[str, str] | None = None
    ) -> Hit | None:
        """The entry answering `text`, already classified as `intent`; None if the intent has none."""
        candidates = self.entries_for(intent)
        if not candidates:
            return None
        fee_type = (entities or {}).get("fee_type")
        if fee_type:
            matching = [entry for entry in candidates if entry.fee_type == fee_type]
            if matching:
                candidates = matching
        ranked = self._rank(text, candidates)
        best = ranked[0]
        # A weak match within the intent falls back to the intent's general answer (its first entry).
        if best.score < LOOKUP_SCORE_MIN and not fee_type:
            return Hit(candidates[0], best.score)
        return best

    def search(self, text: str, *, limit: int = 3) -> list[Hit]:
        """All entries ranked by similarity to `text`, best first, one entry per intent at most."""
        ranked, seen = [], set()
        for hit in self._rank(text, self.entries):
            if hit.entry.intent in seen:
                continue
            seen.add(hit.entry.intent)
            ranked.append(hit)
            if len(ranked) == limit:
                break
        return ranked


@lru_cache(maxsize=1)
def get_knowledge_base() -> KnowledgeBase:
    return KnowledgeBase.from_file()
