"""Chinese text normalisation, shared by the gateway, the knowledge base and Rasa's pipeline.

Traditional characters become simplified (OpenCC), full-width forms become half-width (NFKC),
invisible and control characters are dropped and runs of white space fold to one space.
Imports only the standard library and OpenCC so that the Rasa environment can use it too.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from opencc import OpenCC

_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """The canonical form of a customer's text: simplified, half-width, trimmed."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _t2s().convert(text)
    return _SPACES.sub(" ", text).strip()
