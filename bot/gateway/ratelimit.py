"""Rate limits on the web chat API: a token bucket per customer and one per client IP, in memory.

Each `POST /api/chat/messages` and `POST /api/chat/pin` takes a token from the caller's bucket (the
signed-in customer, else the visitor cookie) and one from its IP's. When either is empty the request
is answered 429 with a polite Chinese `detail` and `Retry-After`, before anything else happens (no
database, no Rasa), and neither bucket is charged. A bucket holds a minute's worth of tokens and refills
continuously, so a customer may send a short burst and then `rate_limit_per_customer_per_min` a minute.

The buckets live in the gateway process: with several gateways each one enforces the limits on the
requests it sees. Behind a reverse proxy the client IP is the proxy's unless uvicorn is told to trust
its `X-Forwarded-For` (`--proxy-headers --forwarded-allow-ips`).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.identity import IdentityError, read_app_token
from bot.phrases import say
from bot.settings import Settings

LIMITED_ROUTES = frozenset({("POST", "/api/chat/messages"), ("POST", "/api/chat/pin")})
BUCKETS_MAX = 100_000  # least recently used buckets are forgotten beyond this (a forgotten bucket is full)
VISITOR_COOKIE = "wb_visitor"
TOKEN_CHARS_MAX = 512


@dataclass
class _Bucket:
    tokens: float
    updated_s: float


class TokenBuckets:
    """One token bucket per key: `per_window` tokens at most, refilled at `per_window` every `window_s`."""

    def __init__(
        self, per_window: int, *, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic, buckets_max: int = BUCKETS_MAX
    ) -> None:
        if per_window < 1:
            raise ValueError("per_window must be at least 1")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.capacity = float(per_window)
        self.refill_per_s = per_window / window_s
        self._clock = clock
        self._buckets_max = buckets_max
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
            while len(self._buckets) > self._buckets_max:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated_s) * self.refill_per_s)
            bucket.updated_s = now
            self._buckets.move_to_end(key)
        return bucket

    def wait_s(self, key: str) -> float:
        """0 when `key` may spend a token now, else the seconds until it may."""
        bucket = self._bucket(key)
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / self.refill_per_s

    def take(self, key: str) -> None:
        self._bucket(key).tokens -= 1.0


class RateLimiter:
    """The two limits together: a request passes only when both its buckets have a token."""

    def __init__(self, *, per_customer_per_min: int, per_ip_per_min: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.customers = TokenBuckets(per_customer_per_min, clock=clock)
        self.ips = TokenBuckets(per_ip_per_min, clock=clock)

    def check(self, *, customer_key: str | None, ip: str) -> float:
        """0 and both tokens taken when the request may go ahead, else the seconds to wait (nothing taken)."""
        wait_s = self.ips.wait_s(ip)
        if customer_key is not None:
            wait_s = max(wait_s, self.customers.wait_s(customer_key))
        if wait_s > 0:
            return wait_s
        self.ips.take(ip)
        if customer_key is not None:
            self.customers.take(customer_key)
        return 0.0


def customer_key(request: Request, secret: str) -> str | None:
    """Whose bucket: the customer of a valid app token, else the visitor cookie's value, else nobody's."""
    header = request.headers.get("authorization", "")
    raw = header[7:].strip() if header.lower().startswith("bearer ") else request.query_params.get("token", "")
    if raw and len(raw) <= TOKEN_CHARS_MAX:
        try:
            return "c:" + read_app_token(secret, raw)
        except IdentityError:
            pass
    visitor = request.cookies.get(VISITOR_COOKIE)
    return "v:" + visitor[:64] if visitor else None


class RateLimitMiddleware:
    """ASGI middleware answering 429 when a chat route is called too often (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.secret = settings.secret
        self.limiter = RateLimiter(
            per_customer_per_min=settings.rate_limit_per_customer_per_min, per_ip_per_min=settings.rate_limit_per_ip_per_min
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in LIMITED_ROUTES:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        ip = request.client.host if request.client else "unknown"
        wait_s = self.limiter.check(customer_key=customer_key(request, self.secret), ip=ip)
        if wait_s > 0:
            response = JSONResponse({"detail": say("rate_limited")}, status_code=429, headers={"Retry-After": str(math.ceil(wait_s))})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
