"""Private stacks for the fault and abuse tests: gateway, Rasa and action server on free ports in a
temporary directory, so that killing one of them never disturbs the shared `stack` fixture."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bot.db import make_engine, make_session_factory, upgrade_database
from bot.handoff.agents import seed_demo_agents
from bot.identity import issue_app_token
from bot.runner import Stack
from bot.settings import load_settings
from bot.wallet import SqlAlchemyUnitOfWork, seed_demo
from tests.conftest import free_port

FOREIGN_SETTINGS = ("TRACKER_STORE_URL", "LOCK_STORE_URL", "RASA_URL", "RASA_URLS", "ACTIONS_URL", "TELEGRAM_TOKEN", "WECHAT_TOKEN",
                    "WALLETBOT_FAULT_INJECT")


def stack_env(workdir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "WALLETBOT_PORT": str(free_port()),
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{workdir / 'walletbot.db'}",
        "WALLETBOT_SECRET": "faults-test-secret-0123456789abcdefghijkl",
        "PYTHONUNBUFFERED": "1",
        "WALLETBOT_BUSINESS_HOURS": "00:00-24:00",
        "WALLETBOT_RATE_LIMIT_CUSTOMER_PER_MIN": "1000",
        "WALLETBOT_RATE_LIMIT_IP_PER_MIN": "10000",
    }
    for name in FOREIGN_SETTINGS:
        env.pop(name, None)
    env.update(extra)
    return env


@contextmanager
def own_stack(workdir: Path, **extra_env: str) -> Iterator[Stack]:
    """A seeded database (demo customers and agent1) and the three processes, stopped afterwards."""
    env = stack_env(workdir, **extra_env)
    settings = load_settings(env)
    upgrade_database(settings.database_url)
    sessions = make_session_factory(make_engine(settings.database_url))
    seed_demo(SqlAlchemyUnitOfWork(sessions, settings=settings))
    seed_demo_agents(sessions, settings)
    stack = Stack(settings, env=env, log_dir=workdir / "log")
    stack.start()
    try:
        stack.wait_healthy()
        yield stack
    finally:
        stack.stop()
        for log in sorted((workdir / "log").glob("*.log")):
            sys.stderr.write(f"\n---- {workdir.name}/{log.name} (tail) ----\n{log.read_text(errors='replace')[-2000:]}\n")


class ChatClient:
    """A web chat customer (with an app token) or visitor (without) talking to a gateway over HTTP."""

    def __init__(self, base_url: str, secret: str | None = None, customer_id: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {issue_app_token(secret, customer_id)}"} if customer_id else {}
        self.http = httpx.Client(base_url=base_url, timeout=60.0, headers=headers)

    def post(self, text: str) -> httpx.Response:
        return self.http.post("/api/chat/messages", json={"text": text})

    def say(self, text: str) -> list[dict]:
        response = self.post(text)
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def click(self, messages: list[dict], title: str) -> list[dict]:
        holder = next(m for m in reversed(messages) if any(b["title"] == title for b in m.get("buttons") or []))
        button = next(b for b in holder["buttons"] if b["title"] == title)
        response = self.http.post("/api/chat/messages", json={"button": {"message_id": holder["id"], "id": button["id"]}})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def secret(self, kind: str, value: str) -> httpx.Response:
        return self.http.post("/api/chat/pin", json={kind: value})

    def state(self) -> str:
        return self.http.get("/api/chat/messages").json()["state"]

    def close(self) -> None:
        self.http.close()


def texts(messages: list[dict]) -> str:
    return "\n".join(m["text"] for m in messages)


def pin_request(messages: list[dict]) -> dict | None:
    return next((m["custom"] for m in messages if (m.get("custom") or {}).get("type") == "pin_request"), None)
