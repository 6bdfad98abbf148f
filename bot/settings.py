"""Settings, read once from the environment into one validated object.

Every module takes its configuration from `get_settings()`; nothing else reads `os.environ`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from pathlib import Path

from bot.channel_auth import channel_key

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev"}


class SettingsError(ValueError):
    """A setting is missing or malformed."""


def _int(env: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if not value >= minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _secret(env: dict[str, str]) -> str:
    """WALLETBOT_SECRET, else the one `make run` generated into var/secret, else a new one there."""
    value = env.get("WALLETBOT_SECRET", "").strip()
    if value:
        return value
    path = VAR_DIR / "secret"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def _business_hours(env: dict[str, str]) -> tuple[time, time]:
    """WALLETBOT_BUSINESS_HOURS "HH:MM-HH:MM" (Asia/Shanghai; "24:00" ends at midnight)."""
    raw = env.get("WALLETBOT_BUSINESS_HOURS", "").strip() or "09:00-21:00"
    try:
        start_text, end_text = (part.strip() for part in raw.split("-"))
        start = time.fromisoformat(start_text)
        end = time.max if end_text == "24:00" else time.fromisoformat(end_text)
    except ValueError as exc:
        raise SettingsError(f"WALLETBOT_BUSINESS_HOURS must look like 09:00-21:00, got {raw!r}") from exc
    if start == end:
        raise SettingsError(f"WALLETBOT_BUSINESS_HOURS opens and closes at the same time: {raw!r}")
    return start, end


WECHAT_ENCODING_MODES = ("plaintext", "compatible", "safe")  # WeChat's 明文模式, 兼容模式, 安全模式


def _wechat_encoding_mode(env: dict[str, str], aes_key: str) -> str:
    """WECHAT_ENCODING_MODE: `safe` (only encrypted bodies) by default with an AES key, else `plaintext`."""
    value = env.get("WECHAT_ENCODING_MODE", "").strip().lower() or ("safe" if aes_key else "plaintext")
    if value not in WECHAT_ENCODING_MODES:
        raise SettingsError(f"WECHAT_ENCODING_MODE must be one of {', '.join(WECHAT_ENCODING_MODES)}, got {value!r}")
    if (value != "plaintext") != bool(aes_key):
        raise SettingsError(f"WECHAT_ENCODING_MODE={value} needs WECHAT_AES_KEY {'set' if aes_key == '' else 'unset'}")
    return value


FAULT_POINTS = ("kill_after_pin_verified", "kill_after_transfer_committed")


def _fault_inject(env: dict[str, str], env_name: str) -> str:
    """WALLETBOT_FAULT_INJECT: where the gateway kills itself, for the fault tests (see FAULT_POINTS)."""
    value = env.get("WALLETBOT_FAULT_INJECT", "").strip()
    if value and value not in FAULT_POINTS:
        raise SettingsError(f"WALLETBOT_FAULT_INJECT must be one of {', '.join(FAULT_POINTS)}, got {value!r}")
    if value and env_name == "production":
        raise SettingsError("WALLETBOT_FAULT_INJECT is for tests only and refused in production")
    return value


@dataclass(frozen=True)
class Settings:
    env_name: str = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    rasa_port: int = 5005
    actions_port: int = 5055
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_urls: tuple[str, ...] = ()  # RASA_URLS: replicas sharing a tracker store; () means just rasa_url
    actions_url: str = "http://127.0.0.1:5055"
    rasa_timeout_s: float = 30.0
    database_url: str = f"sqlite:///{VAR_DIR / 'walletbot.db'}"
    tracker_store_url: str = ""
    lock_store_url: str = ""
    secret: str = field(default="", repr=False)
    telegram_token: str = field(default="", repr=False)
    telegram_webhook_url: str = ""
    telegram_secret_token: str = field(default="", repr=False)
    telegram_api_base_url: str = ""
    wechat_token: str = field(default="", repr=False)
    wechat_app_id: str = ""
    wechat_app_secret: str = field(default="", repr=False)
    wechat_aes_key: str = field(default="", repr=False)
    wechat_api_base_url: str = ""
    # WeChat's message encoding: `safe` refuses plaintext bodies, `compatible` takes both (while switching).
    wechat_encoding_mode: str = "plaintext"
    # WeChat retries after 5 s: answer passively within this, else "success" and the customer-service API.
    wechat_reply_deadline_s: float = 4.5
    # Limits, units last.
    message_chars_max: int = 500
    transfer_limit_fen: int = 5_000_000
    daily_limit_fen: int = 20_000_000
    otp_threshold_fen: int = 500_000
    pin_attempts_max: int = 5
    identity_max_age_s: int = 600
    rasa_session_turns_max: int = 30
    draft_ttl_s: int = 900
    otp_ttl_s: int = 300
    otp_attempts_max: int = 5
    otp_resend_interval_s: int = 60
    otp_resends_per_day_max: int = 5
    # argon2id cost for payment PINs and agent passwords: OWASP's recommended configuration (19 MiB,
    # 2 passes, 1 lane: about 20 ms of one core). RFC 9106's 64 MiB x 3 x 4 lanes cost 150 ms of CPU over
    # both cores per check, starving Rasa under load; a six-digit PIN is guarded by the lockout after a
    # few wrong tries, not by hash cost. Older hashes still verify and are rehashed at the next success.
    pin_hash_time_cost: int = 2
    pin_hash_memory_kib: int = 19456
    pin_hash_parallelism: int = 1
    # Handoff to human agents (business hours are Asia/Shanghai wall-clock times).
    business_hours_start: time = time(9, 0)
    business_hours_end: time = time(21, 0)
    queue_wait_timeout_s: int = 600
    ticket_reply_hours: int = 2  # within business hours, a leave-a-message ticket is answered within this
    agent_login_attempts_max: int = 5
    agent_lockout_s: int = 900
    agent_session_ttl_s: int = 12 * 3600
    # Failed console sign-ins from one client IP (any accounts) per `agent_lockout_s` before it must wait.
    agent_login_ip_failures_max: int = 20
    # Wrong bind codes an hour across every chat of every channel before binding pauses for everyone.
    bind_failures_per_hour_max: int = 50
    # Client IPs (uvicorn's `forwarded_allow_ips`, comma-separated) whose X-Forwarded-For is believed;
    # empty: nobody's, the client address is the TCP peer's.
    forwarded_allow_ips: str = ""
    # Web chat abuse limits: a token bucket per customer (or visitor) and per client IP.
    rate_limit_per_customer_per_min: int = 30
    rate_limit_per_ip_per_min: int = 120
    # WALLETBOT_FAULT_INJECT: a crash point for the fault tests (FAULT_POINTS); never set in production.
    fault_inject: str = ""

    @property
    def rasa_api_token(self) -> str:
        """The token for Rasa's HTTP API, derived from the secret (the secret itself never leaves)."""
        return hashlib.sha256(f"walletbot:rasa-api:{self.secret}".encode()).hexdigest()[:40]

    @property
    def rasa_channel_key(self) -> str:
        """The key that signs every customer message to Rasa's `walletbot` channel (`bot.channel_auth`)."""
        return channel_key(self.secret)

    @property
    def is_production(self) -> bool:
        return self.env_name == "production"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    port = _int(env, "WALLETBOT_PORT", 8000, minimum=1)
    rasa_port = _int(env, "RASA_PORT", 5005, minimum=1)
    actions_port = _int(env, "ACTIONS_PORT", 5055, minimum=1)
    env_name = env.get("WALLETBOT_ENV", "development").strip() or "development"
    secret = _secret(env)
    business_hours_start, business_hours_end = _business_hours(env)
    if env_name == "production" and (secret in PLACEHOLDER_SECRETS or len(secret) < 32):
        raise SettingsError("WALLETBOT_SECRET must be a real secret of at least 32 characters in production")
    return Settings(
        env_name=env_name,
        host=env.get("WALLETBOT_HOST", "127.0.0.1").strip() or "127.0.0.1",
        port=port,
        rasa_port=rasa_port,
        actions_port=actions_port,
        rasa_url=(env.get("RASA_URL", "").strip() or f"http://127.0.0.1:{rasa_port}").rstrip("/"),
        rasa_urls=tuple(u.strip().rstrip("/") for u in env.get("RASA_URLS", "").split(",") if u.strip()),
        actions_url=(env.get("ACTIONS_URL", "").strip() or f"http://127.0.0.1:{actions_port}").rstrip("/"),
        database_url=env.get("DATABASE_URL", "").strip() or Settings.database_url,
        tracker_store_url=env.get("TRACKER_STORE_URL", "").strip(),
        lock_store_url=env.get("LOCK_STORE_URL", "").strip(),
        secret=secret,
        telegram_token=env.get("TELEGRAM_TOKEN", "").strip(),
        telegram_webhook_url=env.get("TELEGRAM_WEBHOOK_URL", "").strip(),
        telegram_secret_token=env.get("TELEGRAM_SECRET_TOKEN", "").strip(),
        telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL", "").strip(),
        wechat_token=env.get("WECHAT_TOKEN", "").strip(),
        wechat_app_id=env.get("WECHAT_APP_ID", "").strip(),
        wechat_app_secret=env.get("WECHAT_APP_SECRET", "").strip(),
        wechat_aes_key=env.get("WECHAT_AES_KEY", "").strip(),
        wechat_api_base_url=env.get("WECHAT_API_BASE_URL", "").strip(),
        wechat_encoding_mode=_wechat_encoding_mode(env, env.get("WECHAT_AES_KEY", "").strip()),
        wechat_reply_deadline_s=_float(env, "WECHAT_REPLY_DEADLINE_S", 4.5, minimum=0.1),
        message_chars_max=_int(env, "WALLETBOT_MESSAGE_CHARS_MAX", 500, minimum=1),
        transfer_limit_fen=_int(env, "WALLETBOT_TRANSFER_LIMIT_FEN", 5_000_000, minimum=1),
        daily_limit_fen=_int(env, "WALLETBOT_DAILY_LIMIT_FEN", 20_000_000, minimum=1),
        otp_threshold_fen=_int(env, "WALLETBOT_OTP_THRESHOLD_FEN", 500_000, minimum=1),
        pin_attempts_max=_int(env, "WALLETBOT_PIN_ATTEMPTS_MAX", 5, minimum=1),
        rasa_session_turns_max=_int(env, "WALLETBOT_RASA_SESSION_TURNS_MAX", 30, minimum=2),
        draft_ttl_s=_int(env, "WALLETBOT_DRAFT_TTL_S", 900, minimum=1),
        otp_ttl_s=_int(env, "WALLETBOT_OTP_TTL_S", 300, minimum=1),
        otp_attempts_max=_int(env, "WALLETBOT_OTP_ATTEMPTS_MAX", 5, minimum=1),
        otp_resend_interval_s=_int(env, "WALLETBOT_OTP_RESEND_INTERVAL_S", 60, minimum=1),
        otp_resends_per_day_max=_int(env, "WALLETBOT_OTP_RESENDS_PER_DAY_MAX", 5, minimum=0),
        pin_hash_time_cost=_int(env, "WALLETBOT_PIN_HASH_TIME_COST", 2, minimum=1),
        pin_hash_memory_kib=_int(env, "WALLETBOT_PIN_HASH_MEMORY_KIB", 19456, minimum=64),
        pin_hash_parallelism=_int(env, "WALLETBOT_PIN_HASH_PARALLELISM", 1, minimum=1),
        business_hours_start=business_hours_start,
        business_hours_end=business_hours_end,
        queue_wait_timeout_s=_int(env, "WALLETBOT_QUEUE_WAIT_TIMEOUT_S", 600, minimum=1),
        ticket_reply_hours=_int(env, "WALLETBOT_TICKET_REPLY_HOURS", 2, minimum=1),
        agent_login_attempts_max=_int(env, "WALLETBOT_AGENT_LOGIN_ATTEMPTS_MAX", 5, minimum=1),
        agent_lockout_s=_int(env, "WALLETBOT_AGENT_LOCKOUT_S", 900, minimum=1),
        agent_session_ttl_s=_int(env, "WALLETBOT_AGENT_SESSION_TTL_S", 12 * 3600, minimum=60),
        agent_login_ip_failures_max=_int(env, "WALLETBOT_AGENT_LOGIN_IP_FAILURES_MAX", 20, minimum=1),
        bind_failures_per_hour_max=_int(env, "WALLETBOT_BIND_FAILURES_PER_HOUR_MAX", 50, minimum=1),
        forwarded_allow_ips=",".join(ip.strip() for ip in env.get("WALLETBOT_FORWARDED_ALLOW_IPS", "").split(",") if ip.strip()),
        rate_limit_per_customer_per_min=_int(env, "WALLETBOT_RATE_LIMIT_CUSTOMER_PER_MIN", 30, minimum=1),
        rate_limit_per_ip_per_min=_int(env, "WALLETBOT_RATE_LIMIT_IP_PER_MIN", 120, minimum=1),
        fault_inject=_fault_inject(env, env_name),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
