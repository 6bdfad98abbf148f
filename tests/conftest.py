"""Shared fixtures: service URLs from the environment, and the real running stack for e2e tests."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def pytest_configure(config) -> None:
    """A SIGTERM'd test run tears its fixtures down like Ctrl-C: stacks stopped, test databases dropped.
    (Were the run killed outright, each stack's warden still kills its processes: bot/warden.py.)"""
    from bot.supervisor import interrupt_on_sigterm

    interrupt_on_sigterm()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_url(name: str) -> str:
    """A service URL from the environment `.ci/run` sets; skip locally when unset, fail in CI."""
    url = os.environ.get(name, "")
    if not url:
        if os.environ.get("WALLETBOT_REQUIRE_SERVICES"):
            pytest.fail(f"{name} is not set but CI requires it")
        pytest.skip(f"{name} is not set")
    return url


def stack_env(workdir: Path, secret: str, **overrides: str | None) -> dict[str, str]:
    """The environment of a test stack: free ports, a fresh SQLite database in `workdir`, agents on duty
    all day, rate limits lifted (every test talks from 127.0.0.1), no external services or channels.
    `overrides` add variables, or remove them when None."""
    env = {
        **os.environ,
        "WALLETBOT_PORT": str(free_port()),
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{workdir / 'walletbot.db'}",
        "WALLETBOT_SECRET": secret,
        "PYTHONUNBUFFERED": "1",
        "WALLETBOT_BUSINESS_HOURS": "00:00-24:00",  # human agents "on duty" whenever the tests run
        "WALLETBOT_RATE_LIMIT_CUSTOMER_PER_MIN": "1000", "WALLETBOT_RATE_LIMIT_IP_PER_MIN": "10000",
        # The fuzzer's refused sign-ins and the hostile tests' wrong bind codes come from 127.0.0.1 too:
        # on a shared stack they must not lock the console or binding for the tests after them.
        "WALLETBOT_AGENT_LOGIN_IP_FAILURES_MAX": "100000", "WALLETBOT_BIND_FAILURES_PER_HOUR_MAX": "100000",
    }
    for name in ("RASA_URL", "RASA_URLS", "ACTIONS_URL", "TRACKER_STORE_URL", "LOCK_STORE_URL", "TELEGRAM_TOKEN", "WECHAT_TOKEN"):
        env.pop(name, None)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """Gateway, Rasa and action server, really started, on free ports with a fresh SQLite database."""
    from bot.runner import Stack
    from bot.settings import load_settings

    workdir = tmp_path_factory.mktemp("stack")
    env = stack_env(
        workdir, "e2e-test-secret-0123456789abcdefghijklmnop",
        WALLETBOT_RASA_SESSION_TURNS_MAX="12",  # exercise the session rollover in every e2e run
    )
    settings = load_settings(env)
    from bot.db import upgrade_database
    from bot.db import make_engine, make_session_factory
    from bot.wallet import SqlAlchemyUnitOfWork, seed_demo

    upgrade_database(settings.database_url)
    seed_demo(SqlAlchemyUnitOfWork(make_session_factory(make_engine(settings.database_url))))
    from bot.handoff.agents import seed_demo_agents

    seed_demo_agents(make_session_factory(make_engine(settings.database_url)), settings)
    running = Stack(settings, env=env, log_dir=workdir / "log")
    running.start()
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()
        for log in sorted((workdir / "log").glob("*.log")):
            tail = log.read_text(errors="replace")[-3000:]
            sys.stderr.write(f"\n---- {log.name} (tail) ----\n{tail}\n")


@pytest.fixture(scope="session")
def gateway_url(stack) -> str:
    return f"http://127.0.0.1:{stack.settings.port}"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (one per test module)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def agent(gateway_url):
    """agent1 signed into the console API (cookie + CSRF token), so on duty; signed out afterwards."""
    import httpx

    with httpx.Client(base_url=gateway_url, timeout=30.0) as client:
        response = client.post("/api/agent/login", json={"username": "agent1", "password": "agent1-pass"})
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client
        client.post("/api/agent/logout")
