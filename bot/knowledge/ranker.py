"""Which entry of an intent answers a question: a linear classifier over the entries' own questions.

The NLU model decides the intent; within it, `EntryRanker` picks the entry. It is trained when first
needed, in about two seconds, on every entry's title and question variants (TF-IDF over character
1–3-grams and jieba content words, a linear SVM), so a question is matched by what sets its entry
apart from the intent's other entries rather than by the one variant it happens to resemble most.
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


class EntryRanker:
    def __init__(self, entries: Sequence[Entry]) -> None:
        texts = [normalize(q) for entry in entries for q in (entry.title, *entry.questions)]
        labels = [entry.id for entry in entries for _ in (entry.title, *entry.questions)]
        self._chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
        self._words = TfidfVectorizer(analyzer=_words, sublinear_tf=True)
        self._chars.fit(texts)
        self._words.fit(texts)
        self._svm = LinearSVC(C=SVM_C, random_state=SVM_RANDOM_STATE).fit(self._features(texts), labels)
        self._column = {entry_id: i for i, entry_id in enumerate(self._svm.classes_)}

    def _features(self, texts: list[str]) -> csr_matrix:
        return hstack([self._chars.transform(texts), self._words.transform(texts)]).tocsr()

    def scores(self, text: str) -> dict[str, float]:
        """Every entry's score for `text` (the SVM's decision value: higher is more like its questions)."""
        values = self._svm.decision_function(self._features([normalize(text)]))[0]
        return {entry_id: float(values[column]) for entry_id, column in self._column.items()}

    def best(self, text: str, entries: Iterable[Entry]) -> Entry:
        """The entry among `entries` (one intent's) whose questions `text` is most like."""
        scores = self.scores(text)
        return max(entries, key=lambda entry: scores.get(entry.id, -np.inf))
