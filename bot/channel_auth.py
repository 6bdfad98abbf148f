"""Only the gateway may post customer messages to Rasa: every message carries an HMAC of its body.

The gateway (and the benchmark's "Rasa alone" baseline) signs each request to Rasa's `walletbot`
input channel (`rasa_addons/gateway_channel.py`) with a key derived from WALLETBOT_SECRET; the
channel refuses (403) a request whose signature is missing, wrong, or older than `max_skew_s`.
The header is `X-Walletbot-Signature: t=<unix seconds>,s=<hex HMAC-SHA256 of "<t>." + body>`.

Standard library only: Rasa's environment imports it too.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Walletbot-Signature"
KEY_ENV = "WALLETBOT_RASA_CHANNEL_KEY"  # how Rasa's process receives the key (never argv)
RASA_TOKEN_ENV = "WALLETBOT_RASA_API_TOKEN"  # and its HTTP API token (`rasa_addons/launch.py`)
CHANNEL_PATH = "/webhooks/walletbot/webhook"
SIGNATURE_MAX_SKEW_S = 300


def channel_key(secret: str) -> str:
    """The channel key: derived from the secret, so the secret itself never reaches Rasa."""
    return hashlib.sha256(f"walletbot:rasa-channel:{secret}".encode()).hexdigest()


def _mac(key: str, timestamp: int, body: bytes) -> str:
    return hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_body(key: str, body: bytes, *, now: float | None = None) -> str:
    """The signature header's value for one request body."""
    timestamp = int(now if now is not None else time.time())
    return f"t={timestamp},s={_mac(key, timestamp, body)}"


def body_is_signed(key: str, body: bytes, header: str | None, *, now: float | None = None,
                   max_skew_s: int = SIGNATURE_MAX_SKEW_S) -> bool:
    """True only when `header` is a fresh signature of exactly `body` with `key` (never with an empty key)."""
    if not key or not header:
        return False
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    current = now if now is not None else time.time()
    if abs(current - timestamp) > max_skew_s:
        return False
    return hmac.compare_digest(fields.get("s", ""), _mac(key, timestamp, body))
