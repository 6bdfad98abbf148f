"""The corpus stack, shared by the corpus and by the amounts played through the stack."""

from __future__ import annotations

import pytest

from tests.conversations.stack import CorpusStack


@pytest.fixture(scope="session")
def corpus_stack(tmp_path_factory):
    stack = CorpusStack.start(tmp_path_factory.mktemp("corpus-stack"))
    try:
        yield stack
    finally:
        stack.stop()
