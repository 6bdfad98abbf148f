"""Secrets: payment PINs (argon2id), SMS codes (HMAC), ID numbers (HMAC), lockout times.

Plain PINs and codes live only in local variables here; nothing in this module logs or returns them
(except `new_otp_code`, whose caller hands the code straight to the SMS sender).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.secret_text import SECRET_DIGITS_LEN, is_secret_format
from bot.settings import Settings

BANK_TZ = ZoneInfo("Asia/Shanghai")
PIN_DIGITS = OTP_DIGITS = SECRET_DIGITS_LEN  # one definition of a six-digit secret: bot.secret_text


def is_pin_format(pin: str) -> bool:
    return is_secret_format(pin)


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def pin_hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.pin_hash_time_cost, settings.pin_hash_memory_kib, settings.pin_hash_parallelism)


def hash_pin(settings: Settings, pin: str) -> str:
    if not is_pin_format(pin):
        raise ValueError(f"a payment PIN is {PIN_DIGITS} digits")
    return pin_hasher(settings).hash(pin)


def pin_matches(settings: Settings, pin_hash: str | None, pin: str) -> bool:
    """Slow on purpose. A missing hash or a malformed PIN never matches."""
    if not pin_hash or not is_pin_format(pin):
        # Spend the same time anyway, so a wrong format is not told apart by timing.
        pin_hasher(settings).hash("000000")
        return False
    try:
        return pin_hasher(settings).verify(pin_hash, pin)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def pin_needs_rehash(settings: Settings, pin_hash: str) -> bool:
    return pin_hasher(settings).check_needs_rehash(pin_hash)


def new_otp_code() -> str:
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


def hash_otp(secret: str, challenge_id: str, code: str) -> str:
    message = f"otp:{challenge_id}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def otp_matches(secret: str, challenge_id: str, code_hash: str, code: str) -> bool:
    if not is_secret_format(code):
        return False
    return hmac.compare_digest(hash_otp(secret, challenge_id, code), code_hash)


def hash_id_number(secret: str, id_number: str) -> str:
    message = f"id-number:{id_number.strip().upper()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def new_token(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(10)}"


def local_day_start(now: datetime) -> datetime:
    """00:00 Asia/Shanghai of the day `now` falls in (as an aware datetime)."""
    local = now.astimezone(BANK_TZ)
    return datetime.combine(local.date(), time(0, 0), tzinfo=BANK_TZ)


def next_local_midnight(now: datetime) -> datetime:
    """00:00 Asia/Shanghai of the next day: when a PIN lockout ends."""
    return local_day_start(now) + timedelta(days=1)
