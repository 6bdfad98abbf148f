"""Agent sign-in throttles in the gateway, in front of `bot.handoff.agents.login`.

* **Per client IP**: `agent_login_ip_failures_max` refused sign-ins (whichever accounts) per
  `agent_lockout_s` (a token bucket, `bot.gateway.ratelimit.TokenBuckets`). Beyond that every sign-in
  from the IP waits (`IpThrottled`, 429) — the right password too, or the pause would tell which guess
  was right.
* **Per username, for names that are no account**: the ledger locks a real account after
  `agent_login_attempts_max` wrong passwords in a row, for `agent_lockout_s`. A name that is no account
  is locked here in exactly the same way, so that the answers (401, then 429 "locked until …") never tell
  a real account from an unknown one. A real account's lock is mirrored too, so both are refused here
  before any password is checked (and in the same time).

In memory, per gateway process: a restart forgets them (the ledger's lockout of real accounts persists).

Errors: `IpThrottled`; and `bot.handoff.AgentLockedOut`, as the ledger raises it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.gateway.ratelimit import BUCKETS_MAX, TokenBuckets
from bot.handoff import AgentLockedOut
from bot.settings import Settings


class IpThrottled(Exception):
    """Too many refused sign-ins from one client IP; it may try again at `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"throttled until {until.isoformat()}")
        self.until = until


@dataclass
class _Name:
    failures: int = 0
    locked_until: datetime | None = None


class LoginGuard:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic, names_max: int = BUCKETS_MAX) -> None:
        self.attempts_max = settings.agent_login_attempts_max
        self.lockout = timedelta(seconds=settings.agent_lockout_s)
        self.ips = TokenBuckets(settings.agent_login_ip_failures_max, window_s=settings.agent_lockout_s, clock=clock)
        self._names: OrderedDict[str, _Name] = OrderedDict()
        self._names_max = names_max

    def check(self, ip: str, username: str, now: datetime) -> None:
        """Before the password is looked at: `IpThrottled` or `AgentLockedOut` when this attempt must wait."""
        wait_s = self.ips.wait_s(ip)
        if wait_s > 0:
            raise IpThrottled(now + timedelta(seconds=wait_s))
        name = self._names.get(username)
        if name is not None and name.locked_until is not None and name.locked_until > now:
            raise AgentLockedOut(name.locked_until)

    def refused(self, ip: str, username: str, error: Exception, now: datetime) -> Exception:
        """Count a refused sign-in; the error to answer with (the Nth wrong password of a name that is no
        account locks it, as the ledger locks a real one)."""
        self.ips.take(ip)
        name = self._name(username)
        if isinstance(error, AgentLockedOut):
            name.failures, name.locked_until = 0, error.until
            return error
        name.failures += 1
        if name.failures < self.attempts_max:
            return error
        name.failures, name.locked_until = 0, now + self.lockout
        return AgentLockedOut(name.locked_until)

    def signed_in(self, username: str) -> None:
        self._names.pop(username, None)

    def _name(self, username: str) -> _Name:
        name = self._names.get(username)
        if name is None:
            name = self._names[username] = _Name()
            while len(self._names) > self._names_max:
                self._names.popitem(last=False)
        else:
            self._names.move_to_end(username)
        return name
