"""The WeChat channel's own stack: gateway, Rasa and action server started for real, with WeChat's API
played by `FakeWeChatApi` on 127.0.0.1 and Rasa reached through `SlowRasaProxy`.

The reply deadline is shortened (`WECHAT_REPLY_DEADLINE_S`) so that a bot held back by the proxy
misses it while the real bot, undelayed, meets it.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import make_engine, make_session_factory, upgrade_database
from bot.handoff import ChatStore, MessageView
from bot.handoff.agents import seed_demo_agents
from bot.handoff.models import Conversation
from bot.runner import Stack
from bot.settings import Settings, load_settings
from bot.wallet import SqlAlchemyUnitOfWork, seed_demo
from tests.conftest import free_port
from tests.wechat.fake_wechat_api import FakeWeChatApi, ServerThread, WeChatPlatform
from tests.wechat.slow_rasa import SlowRasaProxy

WECHAT_TOKEN = "wechat-test-token"
APP_ID = "wx5e1f0a2b3c4d5e6f"
APP_SECRET = "wechat-test-app-secret-0123456789"
REPLY_DEADLINE_S = 4.0
STARTUP_TIMEOUT_S = 300.0  # Rasa loads its model slowly on a busy machine


@dataclass
class WeChatWorld:
    stack: Stack
    settings: Settings
    api: FakeWeChatApi
    rasa_proxy: SlowRasaProxy
    platform: WeChatPlatform
    sessions: object
    log_dir: Path

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def conversation_id(self, openid: str) -> str | None:
        with self.sessions() as session:
            return session.scalars(
                select(Conversation.id).where(Conversation.channel == "wechat", Conversation.external_id == openid)
            ).first()

    def transcript(self, openid: str) -> list[MessageView]:
        conversation_id = self.conversation_id(openid)
        return ChatStore(self.sessions).messages_after(conversation_id, 0) if conversation_id else []

    def gateway_log(self) -> str:
        return (self.log_dir / "gateway.log").read_text(errors="replace")


@pytest.fixture(scope="session")
def wechat_world(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("wechat-stack")
    api = FakeWeChatApi(APP_ID, APP_SECRET)
    rasa_port = free_port()
    proxy = SlowRasaProxy(f"http://127.0.0.1:{rasa_port}")
    aes_key = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    with ServerThread(api.app(), free_port()) as api_server, ServerThread(proxy.app(), free_port()) as proxy_server:
        env = {
            **os.environ,
            "WALLETBOT_PORT": str(free_port()),
            "RASA_PORT": str(rasa_port),
            "RASA_URL": proxy_server.url,
            "ACTIONS_PORT": str(free_port()),
            "DATABASE_URL": f"sqlite:///{workdir / 'walletbot.db'}",
            "WALLETBOT_SECRET": "wechat-e2e-secret-0123456789abcdefghijklmn",
            "WECHAT_TOKEN": WECHAT_TOKEN,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_AES_KEY": aes_key,
            "WECHAT_ENCODING_MODE": "compatible",  # the tests post both forms (safe mode: test_wechat_gateway.py)
            "WECHAT_API_BASE_URL": api_server.url,
            "WECHAT_REPLY_DEADLINE_S": str(REPLY_DEADLINE_S),
            "WALLETBOT_BUSINESS_HOURS": "00:00-24:00",  # human agents "on duty" whenever the tests run
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("RASA_URLS", "TRACKER_STORE_URL", "LOCK_STORE_URL", "TELEGRAM_TOKEN"):
            env.pop(name, None)
        settings = load_settings(env)
        upgrade_database(settings.database_url)
        sessions = make_session_factory(make_engine(settings.database_url))
        seed_demo(SqlAlchemyUnitOfWork(sessions))
        seed_demo_agents(sessions, settings)
        stack = Stack(settings, env=env, log_dir=workdir / "log")
        stack.start()
        platform = WeChatPlatform(f"http://127.0.0.1:{settings.port}/wechat", WECHAT_TOKEN, aes_key, APP_ID)
        try:
            stack.wait_healthy(timeout_s=STARTUP_TIMEOUT_S)
            for warm_up in ("你好", "查余额"):  # the first answers of a fresh Rasa and action server are slow
                platform.say("o-warm-up", warm_up)
            yield WeChatWorld(stack, settings, api, proxy, platform, sessions, workdir / "log")
        finally:
            platform.close()
            stack.stop()
            for log in sorted((workdir / "log").glob("*.log")):
                tail = log.read_text(errors="replace")[-3000:]
                sys.stderr.write(f"\n---- wechat stack {log.name} (tail) ----\n{tail}\n")


@pytest.fixture()
def wechat(wechat_world) -> WeChatPlatform:
    return wechat_world.platform


@pytest.fixture()
def openid() -> str:
    """A WeChat user of this official account, new to each test."""
    return f"o-{secrets.token_urlsafe(18)}"


@pytest.fixture()
def slow_bot(wechat_world):
    """Rasa answers this much later than the reply deadline, for real (the proxy holds its answers)."""
    wechat_world.rasa_proxy.delay_s = REPLY_DEADLINE_S + 2.0
    try:
        yield wechat_world.rasa_proxy.delay_s
    finally:
        wechat_world.rasa_proxy.delay_s = 0.0
