"""Masking of personal numbers (ID, card, phone) for transcripts, queue previews, notes, tickets and logs.

One rule for every view. A number is found as customers type it: digit groups joined by single spaces
or dashes, full-width digits, a "+86" / "86" country prefix before a phone number, a trailing X on an
ID number. Then, by its digits:

* 18 digits (or 17 and X): an ID number → `110101********1234` (first six, last four);
* 11 digits starting 13–19, alone or after +86: a mobile number → `138****5678` (`+86 138****5678`);
* 15–19 digits: a bank card → `6222 **** **** 0123` (first four, last four);
* anything else (amounts, dates, a six-digit code) is left as typed.

A spaced or dashed run that fits none of these shapes is masked group by group instead, so
"转100 13812345678" keeps its amount and masks the phone.
"""

from __future__ import annotations

import logging
import re

_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－ｘＸ", "0123456789+-xX")
# Digit groups joined by one space or dash, an optional +86/0086 prefix, an optional trailing X.
_NUMBER = re.compile(
    r"(?<![0-9])(?P<prefix>(?:\+|00)86[ \-]?)?(?P<body>[0-9]+(?:[ \-][0-9]+)*(?:[ \-]?[Xx](?![A-Za-z]))?)(?![0-9])"
)
_GROUP = re.compile(r"[0-9]+[Xx]?")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_ID = re.compile(r"[0-9]{17}[0-9Xx]")


def _mask_digits(digits: str, *, prefixed: bool) -> str | None:
    """The masked form of one number's digits (separators removed), None when it is no personal number."""
    if _ID.fullmatch(digits):
        return f"{digits[:6]}********{digits[-4:]}"
    if prefixed and _MOBILE.fullmatch(digits):
        return f"+86 {digits[:3]}****{digits[-4:]}"
    if not prefixed and len(digits) == 13 and digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        return f"86 {digits[2:5]}****{digits[-4:]}"
    if _MOBILE.fullmatch(digits):
        return f"{digits[:3]}****{digits[-4:]}"
    if digits.isdigit() and 15 <= len(digits) <= 19:
        return f"{digits[:4]} **** **** {digits[-4:]}"
    return None


def _mask_number(match: re.Match) -> str:
    return _mask_body(match.group("prefix"), match.group("body"))


def _mask_body(prefix: str | None, body: str) -> str:
    digits = re.sub(r"[ \-]", "", body)
    if digits[-1] in "xX" and not _ID.fullmatch(digits):  # "13812345678x": the x is just a letter after it
        stem = re.sub(r"[ \-]?[xX]$", "", body)
        return _mask_body(prefix, stem) + body[len(stem):]
    masked = _mask_digits(digits, prefixed=bool(prefix))
    if masked is not None:
        return masked
    if prefix:  # "+86" before something that is not a mobile number: mask what follows on its own
        return prefix + _mask_groups(body)
    return _mask_groups(body)


def _mask_groups(body: str) -> str:
    """A run that is no single personal number: each group on its own ("100 13812345678")."""
    if not re.search(r"[ \-]", body):
        return body
    return _GROUP.sub(lambda g: _mask_digits(g.group(), prefixed=False) or g.group(), body)


def mask_personal_numbers(text: str) -> str:
    """The text with every ID, card and phone number masked, in any of the forms customers type."""
    if not text:
        return text
    return _NUMBER.sub(_mask_number, text.translate(_FULL_WIDTH))


def mask_id_numbers(text: str) -> str:
    """Only ID numbers masked (a recipient's phone or card may go on to Rasa in a transfer request)."""
    if not text:
        return text

    def only_ids(match: re.Match) -> str:
        digits = re.sub(r"[ \-]", "", match.group("body"))
        return f"{digits[:6]}********{digits[-4:]}" if _ID.fullmatch(digits) and not match.group("prefix") else match.group()

    return _NUMBER.sub(only_ids, text.translate(_FULL_WIDTH))


def mobile_numbers(text: str) -> list[str]:
    """The mobile numbers in the text, as 11 plain digits (a ticket's callback number)."""
    found = []
    for match in _NUMBER.finditer(text.translate(_FULL_WIDTH)):
        digits = re.sub(r"[ \-]", "", match.group("body"))
        if not _ID.fullmatch(digits):
            digits = digits.rstrip("xX")
        if not match.group("prefix") and len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
        if _MOBILE.fullmatch(digits):
            found.append(digits)
        elif not _ID.fullmatch(digits):
            found += [g for g in re.findall(r"[0-9]+", match.group("body")) if _MOBILE.fullmatch(g)]
    return found


def mask_name(name: str) -> str:
    """张三 → *三, 欧阳娜娜 → **娜娜 (keep the last one or two characters)."""
    if len(name) <= 1:
        return "*"
    keep = 1 if len(name) <= 3 else 2
    return "*" * (len(name) - keep) + name[-keep:]


def install_log_masking() -> None:
    """Mask personal numbers in every log record of this process, whichever logger or handler writes it
    (uvicorn's, httpx's, ours; the gateway's logs under var/log are then as masked as its transcripts)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_personal_numbers", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _MASKING_FILTER.filter(record)
        return record

    factory.masks_personal_numbers = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class MaskingFilter(logging.Filter):
    """Log records with personal numbers masked: install on the handlers of the gateway's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error reporting
            return True
        masked = mask_personal_numbers(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_MASKING_FILTER = MaskingFilter()


# A phone number (with +86, spaces or dashes) or a 16-digit wallet number: what may name a transfer's recipient.
RECIPIENT_NUMBER = re.compile(r"(?<![0-9])(?:(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}|[0-9]{16})(?![0-9])")


def recipient_numbers(text: str) -> list[str]:
    """The phone and wallet numbers in a text, digits only, in order ("+86 138-1234-5678" → "13812345678")."""
    found = []
    for match in RECIPIENT_NUMBER.finditer(text or ""):
        digits = re.sub(r"[^0-9]", "", match.group(0))
        found.append(digits[2:] if len(digits) == 13 and digits.startswith("86") else digits)
    return found
