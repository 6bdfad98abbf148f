"""jieba tokenisation with the domain dictionary in `knowledge/jieba/`, minus function words."""

from __future__ import annotations

import logging
from functools import lru_cache

import jieba

from bot.settings import ROOT
from bot.textnorm import normalize

DICTIONARY_DIR = ROOT / "knowledge" / "jieba"
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 嘛 么 我 我的 你 你们 您 请问 请 一下 怎么 怎么样 如何 什么 可以 能 能不能 "
    "是 是不是 有 有没有 要 想 还 就 都 也 在 和 跟 这个 那个 哪 哪里 这 那 个 下 呢 么 吗 ? ! , . 。 ， ？ ！ 、 ~".split()
)


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for path in sorted(DICTIONARY_DIR.glob("*.txt")):
        tokenizer.load_userdict(str(path))
    return tokenizer


def tokens(text: str) -> list[str]:
    return [token for token in _tokenizer().lcut(normalize(text)) if token.strip()]


@lru_cache(maxsize=8192)
def content_tokens(text: str) -> str:
    """Space-joined content words, the form rapidfuzz's token scorers compare."""
    return " ".join(token for token in tokens(text) if token not in STOPWORDS)
