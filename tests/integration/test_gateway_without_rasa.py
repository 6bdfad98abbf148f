"""The gateway on a real SQLite database with nothing listening where Rasa should be."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bot.db import make_engine, make_session_factory, upgrade_database
from bot.gateway.app import create_app
from bot.identity import issue_app_token
from bot.settings import load_settings
from tests.conftest import free_port


@pytest.fixture()
def client(tmp_path):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade_database(url)
    settings = load_settings(
        {"WALLETBOT_SECRET": "unit-secret-0123456789abcdefghijklmnopq", "DATABASE_URL": url, "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())}
    )
    app = create_app(settings, session_factory=make_session_factory(make_engine(url)))
    with TestClient(app) as test_client:
        test_client.settings = settings
        yield test_client


def test_when_rasa_is_down_the_customer_gets_a_polite_apology_not_a_500(client):
    response = client.post("/api/chat/messages", json={"text": "数字钱包怎么开通"})
    assert response.status_code == 200
    [reply] = response.json()["messages"]
    assert reply["sender"] == "system" and "抱歉" in reply["text"]


def test_healthz_says_which_part_is_down(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"gateway": "ok", "rasa": "down", "actions": "down"}


def test_the_customer_message_is_kept_with_personal_numbers_masked(client):
    client.post("/api/chat/messages", json={"text": "我的手机号13800138000收不到验证码"})
    history = client.get("/api/chat/messages").json()["messages"]
    assert history[0]["text"] == "我的手机号138****8000收不到验证码"


def test_a_pin_sent_when_none_was_asked_for_is_refused(client):
    token = issue_app_token(client.settings.secret, "demo-zhangsan")
    response = client.post("/api/chat/pin", json={"pin": "246810"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409
    assert "没有需要输入密码" in response.json()["detail"]


def test_a_button_from_someone_elses_conversation_cannot_be_clicked(client, tmp_path):
    client.post("/api/chat/messages", json={"text": "你好"})
    mine = client.get("/api/chat/messages").json()["messages"]
    client.cookies.clear()
    response = client.post("/api/chat/messages", json={"button": {"message_id": mine[-1]["id"], "id": "b1"}})
    assert response.status_code == 404
    assert "失效" in response.json()["detail"]
