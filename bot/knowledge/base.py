"""Loading and retrieval over `knowledge/faq.yml`: within a classified intent, a linear classifier over
the entries' questions picks the entry (`bot.knowledge.ranker`); across all entries (a question the
model could not place), jieba tokens + rapidfuzz similarity rank them.

An answer in `faq.yml` is a template: every figure that our settings own (limits, the SMS-code
threshold, the PIN lockout, the agents' hours) is a placeholder such as `{transfer_limit}`, filled in
from `bot.settings` when the file is loaded. `Entry.answer` is the rendered text callers send;
`Entry.template` keeps the file's text for the fact audit (`tests/unit/test_faq_facts.py`).
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Mapping

import yaml
from rapidfuzz import fuzz

from bot import cues
from bot.knowledge.ranker import EntryRanker
from bot.knowledge.tokens import content_tokens
from bot.parsing import format_yuan
from bot.settings import ROOT, Settings, get_settings
from bot.textnorm import normalize

KNOWLEDGE_DIR = ROOT / "knowledge"
FAQ_FILE = KNOWLEDGE_DIR / "faq.yml"
DOMAIN_FILE = ROOT / "domain.yml"
FEE_TYPES = {"topup", "withdraw", "cross_border", "transfer", "open", "general"}
TITLE_CHARS_MAX = 12
QUESTIONS_MIN = 6
HUMAN_OFFER = "转人工客服"  # an answer holding these words offers the customer a person
LOST_PHONE_ENTRY = "security_lost_phone"
# How much better (in the entry ranker's decision values, roughly -1.5..1.5) another intent's entry must
# match a question than the classified intent's best entry to answer it instead.
CROSS_INTENT_MARGIN = 0.9


def _clock(at: time) -> str:
    return "24:00" if at == time.max else f"{at:%H:%M}"


# The placeholders an answer may use, each rendered from the settings named in its comment.
PLACEHOLDERS: dict[str, Callable[[Settings], str]] = {
    "transfer_limit": lambda s: format_yuan(s.transfer_limit_fen),  # transfer_limit_fen
    "daily_limit": lambda s: format_yuan(s.daily_limit_fen),  # daily_limit_fen
    "otp_threshold": lambda s: format_yuan(s.otp_threshold_fen),  # otp_threshold_fen
    "pin_attempts": lambda s: str(s.pin_attempts_max),  # pin_attempts_max
    "business_hours": lambda s: f"{_clock(s.business_hours_start)}–{_clock(s.business_hours_end)}",
}


def placeholder_values(settings: Settings) -> dict[str, str]:
    """What each placeholder reads under `settings`."""
    return {name: render(settings) for name, render in PLACEHOLDERS.items()}


def placeholders_in(template: str) -> set[str]:
    """The `{name}` fields of a template (a malformed brace raises ValueError)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class KnowledgeError(Exception):
    """Base of the knowledge base's errors."""


class KnowledgeFileInvalid(KnowledgeError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class EntryIntentUnknown(KnowledgeFileInvalid):
    """An entry answers an intent that domain.yml does not declare, so no rule could ever reach it."""

    def __init__(self, path: Path, entry_id: str, intent: str) -> None:
        super().__init__(path, f"entry {entry_id!r} answers intent {intent!r}, which domain.yml does not declare")
        self.entry_id = entry_id
        self.intent = intent


class EntryTooFewQuestions(KnowledgeFileInvalid):
    """An entry has too few question variants for retrieval to find it."""

    def __init__(self, path: Path, entry_id: str, count: int) -> None:
        super().__init__(path, f"entry {entry_id!r} has {count} questions; at least {QUESTIONS_MIN} are needed")
        self.entry_id = entry_id
        self.count = count


class UnknownEntry(KnowledgeError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"no knowledge entry {entry_id!r}")
        self.entry_id = entry_id


def domain_intents(path: Path = DOMAIN_FILE) -> frozenset[str]:
    """The intents `domain.yml` declares (plain names or `{name: {...}}` mappings)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeFileInvalid(path, str(exc)) from exc
    intents = document.get("intents") if isinstance(document, dict) else None
    if not isinstance(intents, list):
        raise KnowledgeFileInvalid(path, "expected a list under 'intents'")
    return frozenset(str(next(iter(item))) if isinstance(item, dict) else str(item) for item in intents)


ENTRY_OFFERS = (None, "freeze")


@dataclass(frozen=True)
class Entry:
    id: str
    intent: str
    title: str
    answer: str  # rendered: what the customer reads
    questions: tuple[str, ...]
    fee_type: str | None = None
    template: str = ""  # the answer as written in faq.yml, placeholders unfilled
    # For a numbered answer: the entry explaining each step ("" where none does), so "第三步是干嘛的"
    # right after it can be answered.
    steps: tuple[str, ...] = ()
    # What the bot offers after this answer to a signed-in customer: "freeze" (lost phone, fraud) or None.
    offer: str | None = None
    # Precomputed normalised forms of the questions, for retrieval.
    _forms: tuple["_Form", ...] = field(default=(), repr=False, compare=False)

    @property
    def offers_human(self) -> bool:
        """The answer offers a person, so a bare 好的 after it should be read as accepting."""
        return HUMAN_OFFER in self.answer


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


def _render(path: Path, entry_id: str, template: str, values: Mapping[str, str]) -> str:
    """Fill the template's placeholders; an unknown name or a stray brace names the entry."""
    try:
        unknown = placeholders_in(template) - set(values)
    except ValueError as exc:
        raise KnowledgeFileInvalid(path, f"answer of {entry_id!r} has a malformed placeholder: {exc}") from exc
    if unknown:
        raise KnowledgeFileInvalid(
            path, f"answer of {entry_id!r} uses unknown placeholder(s) {sorted(unknown)}; known: {sorted(values)}"
        )
    return template.format_map(values)


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
        self._entry_ranker: EntryRanker | None = None

    def _ranker(self) -> EntryRanker:
        """Trained on first use: loading and checking the file stays cheap for callers that never look up."""
        if self._entry_ranker is None:
            self._entry_ranker = EntryRanker(self.entries)
        return self._entry_ranker

    def warm(self) -> "KnowledgeBase":
        """Train the entry ranker now (a server at start-up), so the first customer's question is not slow."""
        self._ranker()
        return self

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_file(
        cls,
        path: Path = FAQ_FILE,
        *,
        settings: Settings | None = None,
        intents: Iterable[str] | None = None,
    ) -> "KnowledgeBase":
        """Load, check and render `path`: answers are filled in from `settings` (default: the
        process's settings), and every entry's intent must be one of `intents` (default: domain.yml's)."""
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise KnowledgeFileInvalid(path, str(exc)) from exc
        if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
            raise KnowledgeFileInvalid(path, "expected a mapping with a list under 'entries'")
        values = placeholder_values(settings or get_settings())
        known_intents = frozenset(intents) if intents is not None else domain_intents()
        entries, seen = [], set()
        for raw in document["entries"]:
            entry = cls._parse_entry(path, raw, values, known_intents)
            if entry.id in seen:
                raise KnowledgeFileInvalid(path, f"duplicate id {entry.id!r}")
            seen.add(entry.id)
            entries.append(entry)
        for entry in entries:
            dangling = [step for step in entry.steps if step and step not in seen]
            if dangling:
                raise KnowledgeFileInvalid(path, f"steps of {entry.id!r} name unknown entries {dangling}")
        return cls(entries)

    @staticmethod
    def _parse_entry(path: Path, raw: object, values: Mapping[str, str], intents: frozenset[str]) -> Entry:
        if not isinstance(raw, dict):
            raise KnowledgeFileInvalid(path, f"entry is not a mapping: {raw!r}")
        missing = [key for key in ("id", "intent", "title", "answer", "questions") if not raw.get(key)]
        if missing:
            raise KnowledgeFileInvalid(path, f"entry {raw.get('id')!r} lacks {', '.join(missing)}")
        entry_id, intent = str(raw["id"]), str(raw["intent"])
        if intent not in intents:
            raise EntryIntentUnknown(path, entry_id, intent)
        title = str(raw["title"]).strip()
        if len(title) > TITLE_CHARS_MAX:
            raise KnowledgeFileInvalid(path, f"title of {entry_id!r} is longer than {TITLE_CHARS_MAX}")
        fee_type = raw.get("fee_type")
        if fee_type is not None and fee_type not in FEE_TYPES:
            raise KnowledgeFileInvalid(path, f"entry {entry_id!r} has unknown fee_type {fee_type!r}")
        if not isinstance(raw["questions"], list):
            raise KnowledgeFileInvalid(path, f"questions of {entry_id!r} must be a list")
        questions = tuple(str(q).strip() for q in raw["questions"] if str(q).strip())
        if len(questions) < QUESTIONS_MIN:
            raise EntryTooFewQuestions(path, entry_id, len(questions))
        steps = raw.get("steps") or []
        if not isinstance(steps, list):
            raise KnowledgeFileInvalid(path, f"steps of {entry_id!r} must be a list of entry ids")
        offer = raw.get("offer")
        if offer not in ENTRY_OFFERS:
            raise KnowledgeFileInvalid(path, f"entry {entry_id!r} has unknown offer {offer!r}")
        template = str(raw["answer"]).strip()
        forms = tuple(_Form(normalize(q), _features(normalize(q), content_tokens(q))) for q in (title, *questions))
        return Entry(
            id=entry_id,
            intent=intent,
            title=title,
            answer=_render(path, entry_id, template, values),
            questions=questions,
            fee_type=fee_type,
            template=template,
            steps=tuple(str(step or "") for step in steps),
            offer=offer,
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
        if len(candidates) == 1:
            return self._rank(text, candidates)[0]
        best = self._ranker().best(text, candidates)
        return self._rank(text, [best])[0]  # its score, for callers that weigh how close the wording is

    def answer_for(self, text: str, *, intent: str, entities: Mapping[str, str] | None = None) -> Entry | None:
        """The entry a question classified as `intent` is answered with (the FAQ action's choice, and
        what `make nlu-report` and the field test measure): a lost phone gets its safety steps whatever
        the wording; otherwise the intent's entry that `lookup` picks, unless an entry of another
        intent matches the words by more than CROSS_INTENT_MARGIN."""
        if cues.match("lost_phone", text):
            return self.get(LOST_PHONE_ENTRY)
        hit = self.lookup(text, intent=intent, entities=entities)
        if hit is None or len(self.entries_for(intent)) < 2:
            return hit.entry if hit else None
        # The intent is the model's guess; an entry of another intent whose questions the words match
        # clearly better answers instead ("换了手机号收不到验证码登不上" read as a locked account is the
        # changed-number entry).
        scores = self._ranker().scores(text)
        overall = max(self.entries, key=lambda entry: scores.get(entry.id, -math.inf))
        if overall.intent != intent and scores[overall.id] - scores.get(hit.entry.id, -math.inf) > CROSS_INTENT_MARGIN:
            return overall
        return hit.entry

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


def get_knowledge_base() -> KnowledgeBase:
    """The knowledge base rendered with the process's settings; loaded again only if they change."""
    return _knowledge_base(get_settings())


@lru_cache(maxsize=2)
def _knowledge_base(settings: Settings) -> KnowledgeBase:
    return KnowledgeBase.from_file(settings=settings)
