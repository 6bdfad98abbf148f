"""Customer-facing sentences of the gateway and the actions, loaded from `knowledge/phrases.yml`."""

from __future__ import annotations

from functools import lru_cache

import yaml

from bot.settings import ROOT

PHRASES_FILE = ROOT / "knowledge" / "phrases.yml"


@lru_cache(maxsize=1)
def _messages() -> dict[str, str]:
    document = yaml.safe_load(PHRASES_FILE.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in document["messages"].items()}


def say(key: str, **values: object) -> str:
    return _messages()[key].format(**values)
