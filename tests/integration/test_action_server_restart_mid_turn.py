"""The action server killed and restarted while Rasa runs a turn: Rasa loses the action's answer
and answers nothing, and by the time it does the new action server answers /health again. The
customer must still get the apology and the human offer, not silence (found by the chaos soak:
9 unanswered messages in 30 minutes, each just after an action-server kill)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.db import make_engine, make_session_factory, upgrade_database
from bot.gateway.app import create_app
from bot.phrases import say
from bot.settings import load_settings
from tests.conftest import free_port
from tests.wechat.fake_wechat_api import ServerThread


class RestartingActionServer:
    """Nothing listens on the port until `start()`; then /health answers 200."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: ServerThread | None = None

    def start(self) -> None:
        if self.server is None:
            app = Starlette(routes=[Route("/health", lambda request: JSONResponse({"status": "ok"}))])
            self.server = ServerThread(app, self.port).__enter__()

    def stop(self) -> None:
        if self.server is not None:
            self.server.__exit__(None, None, None)


def fake_rasa(actions: RestartingActionServer) -> Starlette:
    """Rasa whose call to the action server failed: it logs, loses the answer and says nothing; the
    supervisor has meanwhile started the action server again."""

    async def webhook(request: Request) -> JSONResponse:
        actions.start()
        return JSONResponse([])

    async def parse(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"text": body.get("text", ""), "intent": {"name": "check_balance", "confidence": 0.99}, "entities": []})

    return Starlette(routes=[
        Route("/webhooks/{channel}/webhook", webhook, methods=["POST"]),
        Route("/model/parse", parse, methods=["POST"]),
        Route("/", lambda request: JSONResponse({"version": "fake"})),
    ])


@pytest.fixture()
def client(tmp_path):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade_database(url)
    rasa_port, actions = free_port(), RestartingActionServer(free_port())
    settings = load_settings({
        "WALLETBOT_SECRET": "unit-secret-0123456789abcdefghijklmnopq", "DATABASE_URL": url,
        "RASA_PORT": str(rasa_port), "ACTIONS_PORT": str(actions.port),
    })
    with ServerThread(fake_rasa(actions), rasa_port):
        app = create_app(settings, session_factory=make_session_factory(make_engine(url)))
        try:
            with TestClient(app) as test_client:
                yield test_client
        finally:
            actions.stop()


def test_an_answer_lost_while_the_action_server_restarted_gets_the_apology_and_a_human_offer(client):
    response = client.post("/api/chat/messages", json={"text": "查一下我的余额"})
    assert response.status_code == 200
    [reply] = response.json()["messages"]
    assert reply["sender"] == "system" and reply["text"] == say("actions_unavailable")
    assert [b["title"] for b in reply["buttons"]] == [say("human_button")]
