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
_LINE_BREAKS = frozenset("\n\r\x85\u2028\u2029")


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def clean_spaces(text: str) -> str:
    """Every Unicode space as " " (line and paragraph separators as a newline), every format character
    (zero-width space, BOM, word joiner, bidi marks: Unicode category Cf) dropped, the ends trimmed.
    The gateway applies it to every customer message before anything else reads it."""
    out = []
    for ch in text:
        if ch in _LINE_BREAKS:
            out.append("\n")
        elif ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch) != "Cf":
            out.append(ch)
    return "".join(out).strip()


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
