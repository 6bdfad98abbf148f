"""Per-customer and per-IP rate limits on the web chat: a polite 429 in Chinese, before anything is done."""

from __future__ import annotations

import time
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.db import make_engine, make_session_factory, upgrade_database
from bot.gateway.app import create_app
from bot.gateway.ratelimit import RateLimiter, TokenBuckets
from bot.identity import issue_app_token
from bot.phrases import say
from bot.runner import Stack
from bot.settings import SettingsError, load_settings
from tests.conftest import free_port, stack_env

SECRET = "ratelimit-test-secret-0123456789abcdefghij"


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_bucket_allows_a_minutes_worth_at_once_then_one_every_60_over_n_seconds():
    clock = Clock()
    buckets = TokenBuckets(30, clock=clock)
    for _ in range(30):
        assert buckets.wait_s("c:1") == 0
        buckets.take("c:1")
    assert buckets.wait_s("c:1") == pytest.approx(2.0)
    assert buckets.wait_s("c:2") == 0  # every key has its own bucket
    clock.now_s += 2.0
    assert buckets.wait_s("c:1") == 0


def test_a_request_refused_by_one_limit_costs_nothing_from_the_other():
    limiter = RateLimiter(per_customer_per_min=2, per_ip_per_min=3, clock=Clock())
    assert [limiter.check(customer_key="c:1", ip="1.2.3.4") for _ in range(3)][:2] == [0, 0]
    assert limiter.check(customer_key="c:1", ip="1.2.3.4") > 0  # customer 1 is out of tokens
    assert limiter.check(customer_key="c:2", ip="1.2.3.4") == 0  # the IP still had one: the refusals took none
    assert limiter.check(customer_key="c:3", ip="1.2.3.4") > 0


def test_forgotten_buckets_are_bounded():
    buckets = TokenBuckets(5, clock=Clock(), buckets_max=100)
    for n in range(1000):
        buckets.take(f"v:{n}")
    assert len(buckets._buckets) == 100


def test_the_limits_are_settings_with_the_documented_defaults():
    defaults = load_settings({"WALLETBOT_SECRET": SECRET})
    assert (defaults.rate_limit_per_customer_per_min, defaults.rate_limit_per_ip_per_min) == (30, 120)
    tuned = load_settings({"WALLETBOT_SECRET": SECRET, "WALLETBOT_RATE_LIMIT_CUSTOMER_PER_MIN": "5", "WALLETBOT_RATE_LIMIT_IP_PER_MIN": "50"})
    assert (tuned.rate_limit_per_customer_per_min, tuned.rate_limit_per_ip_per_min) == (5, 50)
    with pytest.raises(SettingsError):
        load_settings({"WALLETBOT_SECRET": SECRET, "WALLETBOT_RATE_LIMIT_IP_PER_MIN": "0"})


@pytest.fixture()
def gateway(tmp_path):
    """The gateway in process (Rasa down: each message is answered with the fail-safe), 3 a minute per
    customer and 5 per IP."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade_database(url)
    settings = load_settings({
        "WALLETBOT_SECRET": SECRET, "DATABASE_URL": url, "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port()),
        "WALLETBOT_RATE_LIMIT_CUSTOMER_PER_MIN": "3", "WALLETBOT_RATE_LIMIT_IP_PER_MIN": "5",
    })
    with TestClient(create_app(settings, session_factory=make_session_factory(make_engine(url)))) as client:
        yield client


def bearer(customer_id: str) -> dict:
    return {"Authorization": f"Bearer {issue_app_token(SECRET, customer_id)}"}


def test_a_customer_sending_too_fast_is_asked_politely_to_wait_and_nothing_is_stored(gateway):
    for n in range(3):
        assert gateway.post("/api/chat/messages", json={"text": f"第{n}条"}, headers=bearer("demo-lisi")).status_code == 200
    refused = gateway.post("/api/chat/messages", json={"text": "第4条"}, headers=bearer("demo-lisi"))
    assert refused.status_code == 429
    assert refused.json() == {"detail": say("rate_limited")} == {"detail": "您发送得太快了，请稍等片刻再试。"}
    assert int(refused.headers["Retry-After"]) >= 1
    history = gateway.get("/api/chat/messages", headers=bearer("demo-lisi")).json()["messages"]
    assert "第4条" not in [m["text"] for m in history]  # reading the history is not limited
    assert gateway.post("/api/chat/pin", json={"pin": "135790"}, headers=bearer("demo-lisi")).status_code == 429
    assert gateway.post("/api/chat/messages", json={"text": "你好"}, headers=bearer("demo-zhangsan")).status_code == 200


def test_one_address_sending_too_fast_is_limited_whoever_it_claims_to_be(gateway):
    statuses = []
    for n in range(7):
        gateway.cookies.clear()  # a new visitor each time, or a new forged token
        headers = bearer(f"c-{n}") if n % 2 else {"Authorization": "Bearer forged"}
        statuses.append(gateway.post("/api/chat/messages", json={"text": "你好"}, headers=headers).status_code)
    assert statuses == [200] * 5 + [429] * 2
    assert gateway.get("/healthz").status_code in (200, 503)  # only the chat's writes count


@contextmanager
def gateway_process(tmp_path, **env: str):
    """`python -m bot.gateway` started for real (as `walletbot run` starts it), Rasa absent, 3 requests a
    minute per IP; yields its URL once it answers."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade_database(url)
    environment = stack_env(tmp_path, SECRET, DATABASE_URL=url, WALLETBOT_RATE_LIMIT_IP_PER_MIN="3", **env)
    running = Stack(load_settings(environment), env=environment, log_dir=tmp_path / "log")
    running.start_gateway()
    base = f"http://127.0.0.1:{running.settings.port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and running.processes["gateway"].poll() is None, "the gateway did not start"
                time.sleep(0.2)
        yield base
    finally:
        running.stop()


def rotating_forwarded_for(base: str, requests: int) -> list[int]:
    """Cookie-less PIN posts from 127.0.0.1, each claiming another client address (409: nothing awaits one)."""
    return [
        httpx.post(f"{base}/api/chat/pin", json={"pin": "135790"}, headers={"X-Forwarded-For": f"203.0.113.{n}"}, timeout=10).status_code
        for n in range(1, requests + 1)
    ]


def test_by_default_x_forwarded_for_is_not_believed_so_rotating_it_does_not_escape_the_ip_limit(tmp_path):
    with gateway_process(tmp_path) as base:
        assert rotating_forwarded_for(base, 6) == [409] * 3 + [429] * 3


def test_x_forwarded_for_is_believed_from_the_proxies_named_in_the_setting(tmp_path):
    with gateway_process(tmp_path, WALLETBOT_FORWARDED_ALLOW_IPS="127.0.0.1") as base:
        assert rotating_forwarded_for(base, 6) == [409] * 6  # a proxy on the loopback: each client has its own limit
