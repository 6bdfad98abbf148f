"""The gateway on a real SQLite database (a fresh copy of a seeded template per test), signed in as 张三,
with Rasa played by `ScriptedRasa` through `httpx.MockTransport`."""

from __future__ import annotations

import shutil

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.channel_auth import CHANNEL_PATH
from bot.db import make_engine, make_session_factory, upgrade_database
from bot.gateway.app import create_app
from bot.gateway.rasa_client import RasaClient
from bot.identity import issue_app_token
from bot.settings import load_settings
from bot.wallet import SqlAlchemyUnitOfWork, seed_demo
from tests.conftest import free_port

ENV = {
    "WALLETBOT_SECRET": "security-secret-0123456789abcdefghijklmnop",
    "WALLETBOT_PIN_HASH_TIME_COST": "1",
    "WALLETBOT_PIN_HASH_MEMORY_KIB": "1024",
    "WALLETBOT_PIN_HASH_PARALLELISM": "1",
}
ZHANGSAN_PIN = "246810"
LOOPBACK = ("127.0.0.1", 50000)  # the client address of every request (operators' routes answer only the loopback)


class ScriptedRasa:
    """Answers each customer message with the next scripted reply; keeps the raw requests."""

    def __init__(self) -> None:
        self.replies: list[list[dict]] = []
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == CHANNEL_PATH:
            self.requests.append(request)
            return httpx.Response(200, json=self.replies.pop(0) if self.replies else [{"text": "好的"}])
        return httpx.Response(200, json={})


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("security") / "template.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    engine = make_engine(url)
    seed_demo(SqlAlchemyUnitOfWork(make_session_factory(engine), settings=load_settings({**ENV, "DATABASE_URL": url})))
    engine.dispose()
    return path


@pytest.fixture()
def client(request, template_db, tmp_path):
    """Settings may be changed by indirect parametrization: `@pytest.mark.parametrize("client", [{VAR: value}], indirect=True)`."""
    path = tmp_path / "gateway.db"
    shutil.copy(template_db, path)
    url = f"sqlite:///{path}"
    settings = load_settings({**ENV, "DATABASE_URL": url, "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port()),
                              **getattr(request, "param", {})})
    engine = make_engine(url)
    app = create_app(settings, session_factory=make_session_factory(engine))
    with TestClient(app, client=LOOPBACK) as test_client:
        rasa = ScriptedRasa()
        app.state.chat.rasa = RasaClient(
            "http://rasa.test", timeout_s=5, channel_key=settings.rasa_channel_key, transport=httpx.MockTransport(rasa.handler)
        )
        test_client.rasa, test_client.settings = rasa, settings
        test_client.sessions = make_session_factory(engine)
        test_client.uow = lambda: SqlAlchemyUnitOfWork(make_session_factory(engine), settings=settings)
        test_client.headers.update({"Authorization": f"Bearer {issue_app_token(settings.secret, 'demo-zhangsan')}"})
        yield test_client
    engine.dispose()
