"""Security events: each one is logged (`security event: <kind> …`, at WARNING) and counted.

    events = SecurityEvents()
    events.record("replay", channel="wechat", detail="nonce seen before")
    events.count("replay", channel="wechat")  # → 1

The counts live in the process that saw the events (one gateway process in every layout we run) and
are published by the gateway's `GET /metrics` in Prometheus' text format, for the loopback only:

    walletbot_security_events_total{kind="replay",channel="wechat"} 1

Kinds (`KINDS`): a withheld secret, a PIN requested for a draft the customer was not shown, a request
with a bad signature, a replayed signed request, a plaintext WeChat body in safe mode, a throttled
agent sign-in or bind-code attempt. An unknown kind is a programming error (`ValueError`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

log = logging.getLogger(__name__)

KINDS = frozenset({
    "secret_withheld",  # a PIN or code typed where it must not be stored (discarded, never forwarded)
    "draft_not_shown",  # Rasa asked for a PIN for a draft whose summary the customer did not see last
    "bad_signature",  # a channel request whose signature (WeChat) or secret token (Telegram) is wrong
    "replay",  # a signed request seen before (WeChat's timestamp and nonce)
    "plaintext_refused",  # a WeChat body in clear while the account is in safe (AES) mode
    "login_throttled",  # an agent sign-in refused for too many failures from the IP or for the account
    "bind_throttled",  # a bind-code attempt refused by the per-chat or the global limit
})
METRIC = "walletbot_security_events_total"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class SecurityEvents:
    """Counts of security events by kind and channel, safe to record from any thread."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def record(self, kind: str, *, channel: str = "", detail: str = "") -> None:
        """Count one event and log it (`detail` must not hold customer text or a secret)."""
        if kind not in KINDS:
            raise ValueError(f"unknown security event kind {kind!r}")
        with self._lock:
            self._counts[(kind, channel)] += 1
        log.warning("security event: %s%s%s", kind, f" ({channel})" if channel else "", f": {detail}" if detail else "")

    def count(self, kind: str, *, channel: str | None = None) -> int:
        """Events of `kind` so far, on `channel` or (None) on every channel."""
        with self._lock:
            return sum(n for (k, c), n in self._counts.items() if k == kind and (channel is None or c == channel))

    def prometheus_text(self) -> str:
        """The counts in Prometheus' text exposition format (every kind, 0 when none was seen)."""
        with self._lock:
            counts = dict(self._counts)
        lines = [f"# HELP {METRIC} Security events seen by this gateway process.", f"# TYPE {METRIC} counter"]
        for kind in sorted(KINDS):
            channels = sorted(c for k, c in counts if k == kind) or [""]
            for channel in channels:
                lines.append(f'{METRIC}{{kind="{kind}",channel="{channel}"}} {counts.get((kind, channel), 0)}')
        return "\n".join(lines) + "\n"
