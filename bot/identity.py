"""Who the customer is: app tokens for web chat and signed identities passed through Rasa.

The gateway alone decides identity. It signs `{customer_id, sender, iat, mid, text_sha256}` with
HMAC-SHA256 and puts it in the metadata of the one message it sends to Rasa: `mid` is a fresh id for
that message and `text_sha256` the SHA-256 of its normalised text (`message_digest`). Actions accept an
identity only if the signature is valid, the sender matches the conversation, it is fresh, and the text
Rasa recorded for the turn hashes to the signed digest, so an identity copied onto another message
(another amount, another recipient) is refused. Nothing here is a secret worth hiding from Rasa's
tracker: a signature binds one customer to one message of one conversation and expires. Within its
lifetime, `ReplayGuard` lets it serve only the turn it first arrived with: the same message posted to
Rasa again (by whoever holds the channel key) is a new turn, and its identity is refused.

Errors: `IdentityError > {TokenInvalid, TokenExpired, IdentityInvalid > IdentityReplayed}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from bot.textnorm import normalize

TOKEN_VERSION = "v1"
TOKEN_TTL_S = 30 * 24 * 3600
METADATA_KEY = "walletbot_identity"


class IdentityError(Exception):
    """Base of identity errors."""


class TokenInvalid(IdentityError):
    pass


class TokenExpired(IdentityError):
    pass


class IdentityInvalid(IdentityError):
    pass


class IdentityReplayed(IdentityInvalid):
    """A valid identity that already served another turn."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, purpose: str, payload: str) -> str:
    key = hashlib.sha256(f"walletbot:{purpose}:{secret}".encode()).digest()
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def issue_app_token(secret: str, customer_id: str, *, ttl_s: int = TOKEN_TTL_S, now: float | None = None) -> str:
    """The token the bank's app hands the online-service page for a logged-in customer."""
    expires = int((now if now is not None else time.time()) + ttl_s)
    payload = f"{TOKEN_VERSION}.{_b64(customer_id.encode())}.{expires}"
    return f"{payload}.{_sign(secret, 'app-token', payload)}"


def read_app_token(secret: str, token: str, *, now: float | None = None) -> str:
    """The customer id inside a valid token; raises TokenInvalid or TokenExpired."""
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != TOKEN_VERSION:
        raise TokenInvalid("malformed token")
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _sign(secret, "app-token", payload)):
        raise TokenInvalid("bad signature")
    try:
        customer_id = _unb64(parts[1]).decode()
        expires = int(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenInvalid("malformed token") from exc
    if expires < (now if now is not None else time.time()):
        raise TokenExpired(customer_id)
    return customer_id


@dataclass(frozen=True)
class Identity:
    customer_id: str
    sender: str
    iat: int
    message_id: str = ""


def message_digest(text: str) -> str:
    """What an identity binds: the SHA-256 of the message text in its normalised form, which is the form
    both the gateway's text and Rasa's (after the pipeline's normaliser) take."""
    return hashlib.sha256(normalize(text or "").encode("utf-8")).hexdigest()


def _identity_body(customer_id: str, sender: str, iat: int, message_id: str, digest: str) -> str:
    return json.dumps([customer_id, sender, iat, message_id, digest], separators=(",", ":"), ensure_ascii=False)


def sign_identity(secret: str, *, customer_id: str, sender: str, text: str, now: float | None = None,
                  message_id: str | None = None) -> dict:
    """The identity for one message whose text (as sent to Rasa) is `text`."""
    iat = int(now if now is not None else time.time())
    mid = message_id or secrets.token_hex(12)
    digest = message_digest(text)
    return {
        "customer_id": customer_id, "sender": sender, "iat": iat, "mid": mid, "text_sha256": digest,
        "sig": _sign(secret, "identity", _identity_body(customer_id, sender, iat, mid, digest)),
    }


def verify_identity(
    secret: str, metadata: dict | None, *, sender: str, text: str, max_age_s: int, now: float | None = None
) -> Identity:
    """The identity signed by the gateway for this message of this conversation; raises IdentityInvalid."""
    claim = (metadata or {}).get(METADATA_KEY)
    if not isinstance(claim, dict):
        raise IdentityInvalid("no identity")
    customer_id, claimed_sender, iat, mid, digest, sig = (
        claim.get(k) for k in ("customer_id", "sender", "iat", "mid", "text_sha256", "sig")
    )
    if not (
        isinstance(customer_id, str) and isinstance(claimed_sender, str) and isinstance(iat, int)
        and isinstance(mid, str) and isinstance(digest, str) and isinstance(sig, str)
    ):
        raise IdentityInvalid("malformed identity")
    if not hmac.compare_digest(sig, _sign(secret, "identity", _identity_body(customer_id, claimed_sender, iat, mid, digest))):
        raise IdentityInvalid("bad signature")
    if claimed_sender != sender:
        raise IdentityInvalid("identity signed for another conversation")
    current = now if now is not None else time.time()
    if not (current - max_age_s <= iat <= current + 60):
        raise IdentityInvalid("identity too old")
    if not hmac.compare_digest(digest, message_digest(text)):
        raise IdentityInvalid("identity signed for another message")
    return Identity(customer_id=customer_id, sender=claimed_sender, iat=iat, message_id=mid)


class ReplayGuard:
    """Remembers, for as long as an identity is valid, the turn (Rasa's id of the user message) it first
    came with; every action of that turn may use it, any other turn may not. Bounded: the oldest
    entries go first past `entries_max`, and an entry is kept `ttl_s` (the identity's lifetime)."""

    def __init__(self, *, ttl_s: int, entries_max: int = 200_000) -> None:
        self.ttl_s = ttl_s
        self.entries_max = entries_max
        self._turns: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    def check(self, identity: Identity, turn_id: str, *, now: float | None = None) -> None:
        """Raise IdentityReplayed when this identity already served a turn other than `turn_id`."""
        current = now if now is not None else time.time()
        while self._turns and (len(self._turns) > self.entries_max or next(iter(self._turns.values()))[1] < current - self.ttl_s):
            self._turns.popitem(last=False)
        key = (identity.sender, identity.message_id)
        first = self._turns.get(key)
        if first is None:
            self._turns[key] = (turn_id, current)
        elif first[0] != turn_id:
            raise IdentityReplayed(f"identity {identity.message_id} already served another turn")
