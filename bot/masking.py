"""Masking of personal numbers (ID, card, phone) for transcripts and logs."""

from __future__ import annotations

import re

_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")
_CARD_NUMBER = re.compile(r"(?<!\d)(\d{4})\d{8,11}(\d{4})(?!\d)")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_id_numbers(text: str) -> str:
    return _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)


def mask_personal_numbers(text: str) -> str:
    text = mask_id_numbers(text)
    text = _CARD_NUMBER.sub(lambda m: f"{m.group(1)} **** **** {m.group(2)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


def mask_name(name: str) -> str:
    """张三 → *三, 欧阳娜娜 → **娜娜 (keep the last one or two characters)."""
    if len(name) <= 1:
        return "*"
    keep = 1 if len(name) <= 3 else 2
    return "*" * (len(name) - keep) + name[-keep:]
