"""Two questions in one message: "余额多少？顺便问下提现收费吗" is two turns for the bot.

The message is cut into clauses at sentence ends and at the words customers use to add a question
(顺便问下, 另外, 还有 …). Each clause is parsed by Rasa's NLU (`/model/parse`, a few milliseconds and no
tracker change). When two or more clauses are each confidently a different question or request, each is
sent as a turn of its own, in order; when the whole message is unclear but exactly one clause is a
confident question (a long, rambling message), that clause is sent. Otherwise the message goes as it is.
Dialogue words (hello, thanks, yes, no, a bare value such as an amount) are never turns of their own.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.parsing import read_amount
from bot.textnorm import normalize

CLAUSE_CONFIDENCE_MIN = 0.6
WHOLE_CONFIDENCE_MIN = 0.55  # Rasa's FallbackClassifier threshold (config.yml)
CLAUSE_CHARS_MIN = 3
CLAUSES_MAX = 6
RAMBLING_CHARS_MIN = 20  # shorter messages are read whole: "哦那已经转过了，不用了" is one answer
SPLIT = re.compile(
    r"[？?！!。；;，,\n]+"
    r"|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])"
    r"|[，,、\s]*(?:顺便问(?:一)?下|顺便问问|顺便|另外(?:问一?下)?|还有个问题|还有就是|还有|还想问(?:一)?下?|再问(?:一)?下|对了|此外|以及|然后|and also|btw)[，,：:\s]*",
    re.IGNORECASE,
)
NOT_A_TURN = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "inform", "cancel", "bot_challenge", "out_of_scope", "nlu_fallback"})
# Requests stand as turns of their own; any other clause only when it is asked as a question, so that
# "给王五转1万，他装修急用" stays one transfer and is not also answered as a question about top-ups.
REQUESTS = frozenset({"check_balance", "check_transactions", "transfer_money", "request_human", "report_fraud",
                      "report_payment_failed", "report_account_locked", "complain"})
QUESTION = re.compile(
    r"[吗嘛么呢不没?？]\s*$|多少|怎么|怎样|如何|什么|啥|哪|几|能不能|能否|可不可以|可以吗|是不是|是否|有没有|有无|要不要|会不会|"
    r"收费|手续费|要钱|为什么|咋"
)

Parse = Callable[[str], Awaitable[tuple[str, float]]]  # text → (intent, confidence)


@dataclass(frozen=True)
class Clause:
    text: str
    intent: str
    confidence: float


def is_bare_amount(text: str) -> bool:
    """"四万九千八百六十九块四毛三分", "¥12": a value that belongs to the clause beside it."""
    normalized = normalize(text).strip()
    reading = read_amount(normalized)
    return reading.kind == "exact" and reading.span is not None and normalized[slice(*reading.span)].strip() == normalized


def clauses(text: str) -> list[str]:
    parts = [part.strip(" ，,。.、") for part in SPLIT.split(text)]
    return [part for part in parts if len(part) >= CLAUSE_CHARS_MIN]


async def turns(text: str, parse: Parse) -> list[str]:
    """The texts to send to the bot for one customer message, in order (usually just the message)."""
    parts = clauses(text)
    if len(parts) < 2 or len(parts) > CLAUSES_MAX:
        return [text]
    read = [Clause(part, *await parse(part)) for part in parts]
    confident = [
        c for c in read
        if c.intent not in NOT_A_TURN and not is_bare_amount(c.text) and c.confidence >= CLAUSE_CONFIDENCE_MIN and (c.intent in REQUESTS or QUESTION.search(normalize(c.text)))
    ]
    intents = {c.intent for c in confident}
    if len(confident) >= 2 and len(intents) >= 2:
        return [c.text for c in confident]
    if len(confident) >= 1 and len(intents) == 1 and len(text) >= RAMBLING_CHARS_MIN:
        whole_intent, whole_confidence = await parse(text)
        if whole_intent in NOT_A_TURN or whole_confidence < WHOLE_CONFIDENCE_MIN:
            return [max(confident, key=lambda c: c.confidence).text]
    return [text]
