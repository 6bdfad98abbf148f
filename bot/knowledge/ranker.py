"""Which entry of an intent answers a question: a linear classifier over the entries' own questions.

The NLU model decides the intent; within it, `EntryRanker` picks the entry. It is trained when first
needed, in about three seconds, on every entry's title and question variants (TF-IDF over character
1–3-grams and jieba content words, a linear SVM): one model per intent over that intent's entries,
so a question is matched by what sets its entry apart from the intent's other entries rather than by
the one variant it happens to resemble most, and one model over all entries, whose scores let an
entry of another intent answer when it matches clearly better (`KnowledgeBase.answer_for`).
Training is deterministic (`random_state`), so the same knowledge base always ranks the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from bot.knowledge.tokens import content_tokens
from bot.textnorm import normalize

if TYPE_CHECKING:
    from bot.knowledge.base import Entry

SVM_C = 0.5
SVM_RANDOM_STATE = 0


def _words(text: str) -> list[str]:
    return content_tokens(text).split()


class _LinearModel:
    """TF-IDF of character 1–3-grams and jieba content words, and a linear SVM over them."""

    def __init__(self, texts: list[str], labels: list[str]) -> None:
        self._chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
        self._words = TfidfVectorizer(analyzer=_words, sublinear_tf=True)
        self._chars.fit(texts)
        self._words.fit(texts)
        self._svm = LinearSVC(C=SVM_C, random_state=SVM_RANDOM_STATE).fit(self._features(texts), labels)

    def _features(self, texts: list[str]) -> csr_matrix:
        return hstack([self._chars.transform(texts), self._words.transform(texts)]).tocsr()

    def scores(self, text: str) -> dict[str, float]:
        values = np.atleast_1d(self._svm.decision_function(self._features([text]))[0])
        if len(self._svm.classes_) == 2:  # one decision value: positive means the second class
            return {str(self._svm.classes_[0]): -float(values[0]), str(self._svm.classes_[1]): float(values[0])}
        return {str(label): float(value) for label, value in zip(self._svm.classes_, values)}


class EntryRanker:
    def __init__(self, entries: Sequence[Entry]) -> None:
        rows = [(normalize(q), entry.id, entry.intent) for entry in entries for q in (entry.title, *entry.questions)]
        self._overall = _LinearModel([text for text, _, _ in rows], [entry_id for _, entry_id, _ in rows])
        # Within an intent, a model of its own entries only: on 5-fold cross-validation of the
        # knowledge base's questions it picks the right entry for 84.8 % against 82.8 % for the
        # model of all entries.
        self._within: dict[str, _LinearModel] = {}
        for intent in {intent for _, _, intent in rows}:
            own = [(text, entry_id) for text, entry_id, i in rows if i == intent]
            if len({entry_id for _, entry_id in own}) > 1:
                self._within[intent] = _LinearModel([t for t, _ in own], [e for _, e in own])

    def scores(self, text: str) -> dict[str, float]:
        """Every entry's score for `text` from the model of all entries (the SVM's decision value:
        higher is more like its questions), for comparing entries of different intents."""
        return self._overall.scores(normalize(text))

    def best(self, text: str, entries: Iterable[Entry]) -> Entry:
        """The entry among `entries` (one intent's) whose questions `text` is most like."""
        candidates = list(entries)
        intents = {entry.intent for entry in candidates}
        model = self._within.get(next(iter(intents))) if len(intents) == 1 else None
        scores = (model or self._overall).scores(normalize(text))
        return max(candidates, key=lambda entry: scores.get(entry.id, -np.inf))
