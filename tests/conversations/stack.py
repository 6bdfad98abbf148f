"""One stack for the whole corpus: gateway, Rasa and action server on a fresh SQLite database, with
Telegram in webhook mode against the fake Bot API (`tests/telegram/fake_bot_api.py`) and WeChat
against the fake official-account API (`tests/wechat/fake_wechat_api.py`).

`CorpusStack.start(workdir)` seeds the demo world, keeps its template, starts everything and warms
Rasa up; `stop()` ends what it started.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.runner import Stack
from bot.settings import Settings, load_settings
from tests.conftest import free_port, stack_env
from tests.conversations.state import WorldState
from tests.conversations.world import WorldReset, seed_world, sqlite_path
from tests.telegram.fake_bot_api import FakeBotApi
from tests.wechat.fake_wechat_api import FakeWeChatApi, ServerThread, WeChatPlatform

SECRET = "corpus-test-secret-0123456789abcdefghijklmn"
TELEGRAM_TOKEN = "7000000009:corpus-test-token"
TELEGRAM_SECRET = "tg-corpus-secret-0123456789"
WECHAT_TOKEN = "wechat-corpus-token"
WECHAT_APP_ID = "wx0c0r9u5c0r9u5000"
WECHAT_APP_SECRET = "wechat-corpus-app-secret-0123456789"
STARTUP_TIMEOUT_S = 300.0  # Rasa loads its model slowly on a busy machine
WARM_UP = ("你好", "查余额", "给李四转1块")  # the first answers of a fresh Rasa and action server are slow


@dataclass
class CorpusStack:
    stack: Stack
    settings: Settings
    telegram: FakeBotApi
    wechat_api: FakeWeChatApi
    wechat: WeChatPlatform
    world: WorldState
    reset: WorldReset
    workdir: Path
    _wechat_server: ServerThread
    startup_s: float = 0.0

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def gateway_log(self) -> Path:
        return self.stack.log_dir / "gateway.log"

    @classmethod
    def start(cls, workdir: Path) -> CorpusStack:
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        telegram = FakeBotApi(port=free_port()).start()
        wechat_api = FakeWeChatApi(WECHAT_APP_ID, WECHAT_APP_SECRET)
        wechat_server = ServerThread(wechat_api.app(), free_port()).__enter__()
        stack = None
        try:
            port = free_port()
            env = stack_env(
                workdir, SECRET,
                WALLETBOT_PORT=str(port),
                TELEGRAM_TOKEN=TELEGRAM_TOKEN,
                TELEGRAM_API_BASE_URL=telegram.base_url,
                TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
                TELEGRAM_SECRET_TOKEN=TELEGRAM_SECRET,
                WECHAT_TOKEN=WECHAT_TOKEN,
                WECHAT_APP_ID=WECHAT_APP_ID,
                WECHAT_APP_SECRET=WECHAT_APP_SECRET,
                WECHAT_API_BASE_URL=wechat_server.url,
                WECHAT_AES_KEY=None,
            )
            settings = load_settings(env)
            template = workdir / "template.db"
            seed_world(settings, template)
            stack = Stack(settings, env=env, log_dir=workdir / "log")
            stack.start()
            stack.wait_healthy(timeout_s=STARTUP_TIMEOUT_S)
            wechat = WeChatPlatform(f"http://127.0.0.1:{port}/wechat", WECHAT_TOKEN, "0" * 43, WECHAT_APP_ID, http=httpx.Client(timeout=60.0))
            running = cls(stack, settings, telegram, wechat_api, wechat, WorldState(settings),
                          WorldReset(sqlite_path(settings.database_url), template), workdir, wechat_server)
        except BaseException:
            if stack is not None:
                _stop(stack)
            wechat_server.__exit__(None, None, None)
            telegram.stop()
            raise
        running.warm_up()
        running.startup_s = time.monotonic() - started
        return running

    def warm_up(self) -> None:
        from bot.identity import issue_app_token

        headers = {"Authorization": f"Bearer {issue_app_token(self.settings.secret, 'demo-zhangsan')}"}
        with httpx.Client(base_url=self.gateway_url, timeout=120.0, headers=headers) as http:
            for text in WARM_UP:
                http.post("/api/chat/messages", json={"text": text})
        self.reset.reset()

    def stop(self) -> None:
        self.reset.close()
        self.world.close()
        self.wechat.close()
        _stop(self.stack)
        self._wechat_server.__exit__(None, None, None)
        self.telegram.stop()


def _stop(stack: Stack) -> None:
    stack.stop("gateway")
    for name in [name for name in stack.processes if name.startswith("rasa")]:
        stack.stop(name, signal.SIGKILL)  # a throwaway test server; SIGTERM takes Rasa ~7 s
    stack.stop()
    time.sleep(0.1)
