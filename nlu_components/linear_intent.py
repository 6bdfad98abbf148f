"""A Rasa intent classifier: a linear SVM over TF-IDF character n-grams and jieba words.

On our data it reads customers better than DIET did (blind field-style set: intent accuracy 0.935 with
DIET, 0.96 with this; in-domain set 0.962 and 0.97) and trains in seconds instead of minutes. It is
scikit-learn's `LinearSVC`, the same model that picks the FAQ entry within an intent
(`bot.knowledge.ranker`), fitted on every intent example's normalised text (character 1–3-grams
within words) and its jieba tokens (the `JiebaTokenizer` step before it), both TF-IDF with
sublinear term frequency.

Confidences: the SVM's decision values through a softmax at `temperature`. Rasa's
`FallbackClassifier` after it, the gateway's clause splitter and the dialogue rules read them as
they read DIET's (peaked near 1 when the words are clear); `temperature: 0.1` keeps that shape —
on 3-fold cross-validation of the training data 1.8 % of right readings fall under the fallback
threshold (0.55), against 7.8 % at 0.2.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

import joblib
import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

MODEL_FILE = "linear_intent.joblib"
TOKENS = TOKENS_NAMES[TEXT]  # where Rasa's tokenizers leave a message's tokens


def message_words(message: Message) -> str:
    """The tokenizer's words of a message, one per line (a form the vectorizer can split again)."""
    return "\n".join(token.text for token in message.get(TOKENS) or [])


def split_words(words: str) -> List[str]:
    return [word for word in words.split("\n") if word.strip()]


def _texts(messages: List[Message]) -> List[str]:
    return [m.get(TEXT) or "" for m in messages]


def _words(messages: List[Message]) -> List[str]:
    return [message_words(m) for m in messages]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 1.0, "temperature": 0.1, "ranking_length": 10, "random_state": 0}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        fitted: Optional[Dict[Text, Any]] = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._fitted = fitted

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LinearIntentClassifier":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        if len({m.get(INTENT) for m in examples}) < 2:
            raise ValueError("LinearIntentClassifier needs examples of at least two intents")
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
        words = TfidfVectorizer(analyzer=split_words, sublinear_tf=True)
        self._fitted = {"chars": chars.fit(_texts(examples)), "words": words.fit(_words(examples))}
        svm = LinearSVC(C=self.config["C"], random_state=self.config["random_state"])
        self._fitted["svm"] = svm.fit(self._features(examples), [m.get(INTENT) for m in examples])
        with self._model_storage.write_to(self._resource) as folder:
            joblib.dump(self._fitted, folder / MODEL_FILE)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LinearIntentClassifier":
        try:
            with model_storage.read_from(resource) as folder:
                fitted = joblib.load(folder / MODEL_FILE)
        except ValueError:  # trained on no data: the component stays silent
            fitted = None
        return cls(config, model_storage, resource, fitted)

    def _features(self, messages: List[Message]) -> csr_matrix:
        fitted = self._fitted or {}
        return hstack([fitted["chars"].transform(_texts(messages)), fitted["words"].transform(_words(messages))]).tocsr()

    def process(self, messages: List[Message]) -> List[Message]:
        if not self._fitted or not messages:
            return messages
        svm: LinearSVC = self._fitted["svm"]
        decisions = np.atleast_2d(svm.decision_function(self._features(messages)))
        for message, values in zip(messages, decisions):
            scaled = (values - values.max()) / self.config["temperature"]
            confidences = np.exp(scaled) / np.exp(scaled).sum()
            order = np.argsort(-confidences)[: self.config["ranking_length"]]
            ranking = [{INTENT_NAME_KEY: str(svm.classes_[i]), PREDICTED_CONFIDENCE_KEY: float(confidences[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
