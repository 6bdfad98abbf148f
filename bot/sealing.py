"""Sealing a personal value at rest (a ticket's callback number): Fernet, keyed from WALLETBOT_SECRET.

`seal(secret, value)` → an opaque token for the database; `unseal(secret, token)` → the value, or None
when the token was sealed under another secret or altered (the view then shows no number, not an error).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

_KEY_LABEL = "walletbot:sealing:v1:"


def _fernet(secret: str) -> Fernet:
    if not secret:
        raise ValueError("sealing needs WALLETBOT_SECRET")
    key = hashlib.sha256((_KEY_LABEL + secret).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, value: str) -> str:
    return _fernet(secret).encrypt(value.encode()).decode("ascii")


def unseal(secret: str, token: str | None) -> str | None:
    if not token:
        return None
    try:
        return _fernet(secret).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return None
