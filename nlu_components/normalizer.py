"""A Rasa pipeline step that normalises Chinese text before tokenisation.

It runs first in `config.yml`, so every path into the NLU model (the REST channel, `/model/parse`,
`rasa shell`, evaluation) sees the same simplified, half-width text that `bot.textnorm` produces.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.textnorm import normalize


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class ChineseTextNormalizer(GraphComponent):
    """Traditional → simplified, full-width → half-width, invisible characters removed."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ChineseTextNormalizer":
        return cls()

    @staticmethod
    def _normalize(message: Message, *, keep_offsets: bool) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str) or not text:
            return
        normalized = normalize(text)
        if normalized == text:
            return
        # Training examples carry entity offsets: only rewrite them when the offsets stay valid.
        if keep_offsets and message.get("entities") and len(normalized) != len(text):
            return
        message.set(TEXT, normalized)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalize(example, keep_offsets=True)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message, keep_offsets=False)
        return messages
