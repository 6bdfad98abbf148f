"""Six-digit secrets (payment PIN, SMS code) in customer text: the one definition for the whole code base.

Plain rules, standard library only (the migration and the tracker scrubber use them too):

* a secret is six ASCII digits; full-width digits (２４６８１０) count as the same digits, other scripts'
  digits (٢٤٦٨١٠) do not;
* `exact_secret(text)`: the whole text is one secret (the PIN sheet, "246810。" typed alone);
* `secret_run(text)`: the text holds exactly one run of exactly six digits; digit groups joined by one
  space or dash ("138-1234-5678", "6222 0212 3456 7890") are one longer run, so phone, card and ID
  numbers are never taken for a PIN. The gateway applies it only while a secret is awaited or within
  `SECRET_REQUEST_WINDOW_S` of asking for one;
* `named_secret(text)`: "密码" (支付密码, 验证码, PIN, password) followed by six digits: withheld at any time;
* `scrub(text, digits)`: the text with those digits replaced, for transcripts and trackers stored before
  these rules.
"""

from __future__ import annotations

import re
import unicodedata

SECRET_DIGITS_LEN = 6
SECRET_REQUEST_WINDOW_S = 600  # a six-digit run this long after a PIN/SMS-code request is taken as the secret
SCRUBBED_DIGITS = "******"

_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_EXACT = re.compile(r"[0-9]{6}")
# A number as customers type it: digit groups joined by single spaces or dashes (and a +86 prefix).
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]+(?:[ \-][0-9]+)*(?![0-9])")
_NAMES = r"(?:支付密码|交易密码|密码|验证码|校验码|动态码|pin码?|passcode|password|pwd)"
_NAMED = re.compile(_NAMES + r"[^0-9]{0,8}?(?<![0-9])([0-9]{6})(?![0-9])", re.IGNORECASE)
# What may surround a PIN typed alone: spaces, punctuation, nothing else.
_DECORATION = re.compile(r"[\s\.,;:!?'\"`~。，、；：！？…·「」『』（）()\[\]【】<>《》\-_*#]*")


def ascii_digits(text: str) -> str:
    """Full-width digits as ASCII digits; every other character unchanged."""
    return text.translate(_FULL_WIDTH_DIGITS)


def _prepared(text: str) -> str:
    """Full-width digits as ASCII, invisible format characters (U+200B, U+FEFF…) gone, so that
    "2\u200b46810" is the same six digits."""
    text = ascii_digits(text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def is_secret_format(value: object) -> bool:
    """Exactly six ASCII digits, nothing around them: what the ledger accepts as a PIN or SMS code."""
    return isinstance(value, str) and _EXACT.fullmatch(value) is not None


def exact_secret(text: str) -> str | None:
    """The six digits when the whole text is a secret, possibly with spaces and punctuation around it."""
    text = _prepared(text)
    match = _EXACT.search(text)
    if match is None:
        return None
    if _DECORATION.fullmatch(text[: match.start()]) and _DECORATION.fullmatch(text[match.end():]):
        return match.group()
    return None


def six_digit_runs(text: str) -> list[str]:
    """Every run of exactly six digits in the text (digit groups joined by a space or dash are one run)."""
    return [m.group() for m in _DIGIT_RUN.finditer(_prepared(text)) if len(m.group()) == SECRET_DIGITS_LEN]


def secret_run(text: str) -> str | None:
    """The six digits when the text holds exactly one run of exactly six digits (and no longer-run part)."""
    six = six_digit_runs(text)
    return six[0] if len(six) == 1 else None


def named_secret(text: str) -> str | None:
    """The six digits that follow "密码", "验证码", "PIN" or "password" in the text, else None."""
    match = _NAMED.search(_prepared(text))
    return match.group(1) if match else None


def named_secrets(text: str) -> list[str]:
    return [m.group(1) for m in _NAMED.finditer(_prepared(text))]


def scrub(text: str, digits: list[str] | set[str]) -> str:
    """The text with each six-digit secret in `digits` replaced (also in its full-width form)."""
    secrets = [secret for secret in digits if _EXACT.fullmatch(secret)]
    for secret in secrets:
        full_width = secret.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        for form in (secret, full_width):
            text = re.sub(rf"(?<![0-9０-９]){form}(?![0-9０-９])", SCRUBBED_DIGITS, text)
    prepared = _prepared(text)
    if any(re.search(rf"(?<![0-9]){secret}(?![0-9])", prepared) for secret in secrets):
        return scrub(prepared, secrets)  # hidden by invisible characters ("2\u200b46810")
    return text


def secrets_to_scrub(text: str, *, after_request: bool) -> set[str]:
    """Which digits of an already stored customer text are secrets: named ones always, a lone six-digit
    run (or several) when the bot had asked for a PIN or SMS code shortly before (`after_request`)."""
    found = set(named_secrets(text))
    if after_request:
        found |= set(six_digit_runs(text))
    return found


class ConversationScrubber:
    """Walk one stored conversation in order (a transcript, a Rasa tracker): note each PIN or SMS-code
    request with `asked(at)`, ask `secrets(text, at)` of each customer text. Times in seconds (epoch)."""

    def __init__(self) -> None:
        self._asked_at: float | None = None

    def asked(self, at: float) -> None:
        self._asked_at = at

    def secrets(self, text: str, at: float) -> set[str]:
        after = self._asked_at is not None and 0 <= at - self._asked_at <= SECRET_REQUEST_WINDOW_S
        return secrets_to_scrub(text, after_request=after)


def scrub_strings(value, digits: set[str]):
    """Every string inside a JSON-like value (dicts, lists) with the secret digits replaced."""
    if isinstance(value, str):
        return scrub(value, digits)
    if isinstance(value, list):
        return [scrub_strings(item, digits) for item in value]
    if isinstance(value, dict):
        return {key: scrub_strings(item, digits) for key, item in value.items()}
    return value
