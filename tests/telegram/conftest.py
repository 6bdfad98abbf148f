"""Telegram fixtures: a fake Bot API server, and the real stack configured to talk to it.

`telegram_stack` starts its own gateway (webhook mode), Rasa and action server, like the shared
`stack` fixture but with TELEGRAM_* pointing at the fake server; `polling_gateway` is a second
gateway process in polling mode that shares that stack's Rasa, action server and database.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass

import pytest

from tests.conftest import free_port
from tests.telegram.fake_bot_api import FakeBotApi

WEBHOOK_BOT_TOKEN = "7000000001:webhook-test-token"
POLLING_BOT_TOKEN = "7000000002:polling-test-token"
WEBHOOK_SECRET = "tg-webhook-secret-0123456789"


@dataclass(frozen=True)
class TelegramGateway:
    url: str
    token: str
    log_path: object


@pytest.fixture(scope="session")
def fake_telegram():
    server = FakeBotApi(port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()


def _dump_logs(log_dir) -> None:
    for log in sorted(log_dir.glob("*.log")):
        sys.stderr.write(f"\n---- {log_dir.name}/{log.name} (tail) ----\n{log.read_text(errors='replace')[-3000:]}\n")


@pytest.fixture(scope="session")
def telegram_stacks(tmp_path_factory, fake_telegram):
    """Gateway (webhook mode), Rasa and action server on free ports with a fresh SQLite database, plus a
    second gateway polling the fake server that shares them; both start together, Rasa being the slow part."""
    from bot.db import make_engine, make_session_factory, upgrade_database
    from bot.runner import Stack
    from bot.settings import load_settings
    from bot.wallet import SqlAlchemyUnitOfWork, seed_demo

    workdir = tmp_path_factory.mktemp("telegram-stack")
    port = free_port()
    env = {
        **os.environ,
        "WALLETBOT_PORT": str(port),
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{workdir / 'walletbot.db'}",
        "WALLETBOT_SECRET": "telegram-test-secret-0123456789abcdefghij",
        "PYTHONUNBUFFERED": "1",
        "TELEGRAM_TOKEN": WEBHOOK_BOT_TOKEN,
        "TELEGRAM_API_BASE_URL": fake_telegram.base_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "TELEGRAM_SECRET_TOKEN": WEBHOOK_SECRET,
    }
    for name in ("TRACKER_STORE_URL", "LOCK_STORE_URL", "WECHAT_TOKEN", "RASA_URL", "ACTIONS_URL"):
        env.pop(name, None)
    polling_env = {**env, "WALLETBOT_PORT": str(free_port()), "TELEGRAM_TOKEN": POLLING_BOT_TOKEN}
    del polling_env["TELEGRAM_WEBHOOK_URL"], polling_env["TELEGRAM_SECRET_TOKEN"]
    settings = load_settings(env)
    upgrade_database(settings.database_url)
    seed_demo(SqlAlchemyUnitOfWork(make_session_factory(make_engine(settings.database_url))))
    webhook = Stack(settings, env=env, log_dir=workdir / "log")
    polling = Stack(load_settings(polling_env), env=polling_env, log_dir=workdir / "log-polling")
    try:
        webhook.start()
        polling.start_gateway()
        webhook.wait_healthy()
        polling.wait_healthy()
        yield webhook, polling
    finally:
        polling.stop()
        webhook.stop("gateway")
        for name in [name for name in webhook.processes if name.startswith("rasa")]:
            webhook.stop(name, signal.SIGKILL)  # a throwaway test server; SIGTERM takes Rasa ~7 s
        webhook.stop()
        _dump_logs(workdir / "log")
        _dump_logs(workdir / "log-polling")


@pytest.fixture(scope="session")
def telegram_stack(telegram_stacks):
    return telegram_stacks[0]


@pytest.fixture(scope="session")
def webhook_gateway(telegram_stack) -> TelegramGateway:
    return TelegramGateway(
        f"http://127.0.0.1:{telegram_stack.settings.port}", WEBHOOK_BOT_TOKEN, telegram_stack.log_dir / "gateway.log"
    )


@pytest.fixture(scope="session")
def polling_gateway(telegram_stacks) -> TelegramGateway:
    """A second gateway process in polling mode, sharing the stack's Rasa, action server and database."""
    polling = telegram_stacks[1]
    return TelegramGateway(f"http://127.0.0.1:{polling.settings.port}", POLLING_BOT_TOKEN, polling.log_dir / "gateway.log")


@pytest.fixture(scope="session")
def telegram_sessions(telegram_stack):
    """Sessions on the stack's database (to issue bind codes and read transcripts as the app would)."""
    from bot.db import make_engine, make_session_factory

    return make_session_factory(make_engine(telegram_stack.settings.database_url))


class WebhookCustomer:
    """One Telegram user in a private chat with the bot, whose messages Telegram posts to the webhook."""

    def __init__(self, gateway: TelegramGateway, fake: FakeBotApi, user_id: int) -> None:
        self.gateway, self.fake, self.user_id = gateway, fake, user_id

    def post(self, update: dict, *, secret: str | bytes | None = WEBHOOK_SECRET):
        import httpx

        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return httpx.post(f"{self.gateway.url}/telegram/webhook", json=update, headers=headers, timeout=10.0)

    def deliver(self, update: dict) -> list:
        """Post an update as Telegram would and return the bot's messages once it has finished answering."""
        mark = self.fake.mark()
        response = self.post(update)
        assert response.status_code == 200, response.text
        self.fake.wait_for(lambda c: c.seq > mark and c.method == "sendMessage" and c.chat_id == self.user_id)
        self.fake.settle(chat_id=self.user_id)
        return self.fake.calls_since(mark, method="sendMessage", chat_id=self.user_id)

    def says(self, text: str | None = None, **content) -> list:
        from tests.telegram.fake_bot_api import message

        return self.deliver(message(self.user_id, text=text, **content))

    def clicks(self, sent, title: str) -> list:
        from tests.telegram.fake_bot_api import button_click

        [button] = [b for b in sent.buttons if b["text"] == title]
        return self.deliver(button_click(self.user_id, data=button["callback_data"], message_id=sent.message_id))


@pytest.fixture()
def telegram_user(request, webhook_gateway, fake_telegram):
    """A new Telegram user for each test (so each test has its own chat and conversation)."""
    import zlib

    return WebhookCustomer(webhook_gateway, fake_telegram, 10_000 + zlib.crc32(request.node.nodeid.encode()) % 1_000_000_000)
