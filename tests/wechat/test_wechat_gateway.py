"""The `/wechat` route inside the gateway on a real SQLite database, with nothing where Rasa should be."""

from __future__ import annotations

import base64
import secrets

import pytest
from fastapi.testclient import TestClient

from bot.db import make_engine, make_session_factory, upgrade_database
from bot.gateway.app import create_app
from bot.settings import load_settings
from tests.conftest import free_port
from tests.wechat.fake_wechat_api import WeChatPlatform

TOKEN, APP_ID = "gateway-wechat-token", "wx-gateway-test"


def gateway(tmp_path, **wechat_env):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade_database(url)
    settings = load_settings(
        {
            "WALLETBOT_SECRET": "unit-secret-0123456789abcdefghijklmnopq",
            "DATABASE_URL": url,
            "RASA_PORT": str(free_port()),
            "ACTIONS_PORT": str(free_port()),
            **wechat_env,
        }
    )
    return create_app(settings, session_factory=make_session_factory(make_engine(url)))


def test_wechat_is_off_without_a_token(tmp_path):
    with TestClient(gateway(tmp_path)) as client:
        assert client.get("/wechat", params={"echostr": "x"}).status_code == 404


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "safe-mode"])
def test_when_rasa_is_down_wechat_gets_a_polite_apology_not_a_500(tmp_path, aes):
    aes_key = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    app = gateway(tmp_path, WECHAT_TOKEN=TOKEN, WECHAT_APP_ID=APP_ID, WECHAT_AES_KEY=aes_key, WECHAT_REPLY_DEADLINE_S="4.5")
    with TestClient(app) as client:
        wechat = WeChatPlatform("http://testserver/wechat", TOKEN, aes_key, APP_ID, http=client)
        reply = wechat.say("o-rasa-down", "数字钱包怎么开通", aes=aes)
    assert reply.status_code == 200 and reply.text.startswith("抱歉")
