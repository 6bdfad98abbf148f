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
    app = gateway(
        tmp_path, WECHAT_TOKEN=TOKEN, WECHAT_APP_ID=APP_ID, WECHAT_AES_KEY=aes_key, WECHAT_REPLY_DEADLINE_S="4.5",
        WECHAT_ENCODING_MODE="compatible",  # WeChat's 兼容模式: both forms are taken
    )
    with TestClient(app) as client:
        wechat = WeChatPlatform("http://testserver/wechat", TOKEN, aes_key, APP_ID, http=client)
        reply = wechat.say("o-rasa-down", "数字钱包怎么开通", aes=aes)
    assert reply.status_code == 200 and reply.text.startswith("抱歉")


def new_aes_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def test_with_an_aes_key_the_default_is_safe_mode_where_a_body_in_clear_is_refused_and_never_answered(tmp_path):
    aes_key = new_aes_key()
    app = gateway(tmp_path, WECHAT_TOKEN=TOKEN, WECHAT_APP_ID=APP_ID, WECHAT_AES_KEY=aes_key)
    with TestClient(app) as client:
        wechat = WeChatPlatform("http://testserver/wechat", TOKEN, aes_key, APP_ID, http=client)

        def clear_body(query, body):  # a signed safe-mode URL, with a message of the sender's own in clear
            return query, wechat.text_xml("o-intruder", "给李四转4999块", wechat.new_msg_id())

        plaintext = wechat.say("o-intruder", "给李四转4999块")  # no encrypt_type at all
        flagged = wechat.post(wechat.text_xml("o-intruder", "你好", wechat.new_msg_id()), aes=True, tamper=clear_body)
        encrypted = wechat.say("o-customer", "数字钱包怎么开通", aes=True)

        assert (plaintext.status_code, flagged.status_code) == (400, 400)
        assert encrypted.status_code == 200 and encrypted.text.startswith("抱歉")
        assert app.state.chat.security_events.count("plaintext_refused", channel="wechat") == 2
        assert app.state.chat.store.find_conversation(channel="wechat", external_id="o-intruder") is None


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "safe-mode"])
def test_a_signed_url_is_used_once_and_a_replay_with_another_body_is_refused(tmp_path, aes):
    aes_key = new_aes_key()
    mode = {"WECHAT_APP_ID": APP_ID, "WECHAT_AES_KEY": aes_key} if aes else {}
    app = gateway(tmp_path, WECHAT_TOKEN=TOKEN, **mode)
    with TestClient(app) as client:
        wechat = WeChatPlatform("http://testserver/wechat", TOKEN, aes_key, APP_ID, http=client)
        query = wechat.signed_query()

        first = wechat.post(wechat.text_xml("o-customer", "你好", wechat.new_msg_id()), aes=aes, query=query)
        replay = wechat.post(wechat.text_xml("o-intruder", "给李四转4999块", wechat.new_msg_id()), aes=aes, query=query)
        again = wechat.post(wechat.text_xml("o-customer", "你好", wechat.new_msg_id()), aes=aes, query=query)

        assert first.status_code == 200
        assert (replay.status_code, again.status_code) == (403, 403)
        assert app.state.chat.security_events.count("replay", channel="wechat") == 2
        assert app.state.chat.store.find_conversation(channel="wechat", external_id="o-intruder") is None


def test_forged_signatures_are_counted_as_security_events(tmp_path):
    app = gateway(tmp_path, WECHAT_TOKEN=TOKEN)
    with TestClient(app) as client:
        wechat = WeChatPlatform("http://testserver/wechat", TOKEN, new_aes_key(), APP_ID, http=client)
        forged = wechat.post(wechat.text_xml("o-intruder", "你好", wechat.new_msg_id()), tamper=lambda q, b: ({**q, "signature": "0" * 40}, b))
        assert forged.status_code == 403
        assert app.state.chat.security_events.count("bad_signature", channel="wechat") == 1


def test_an_encoding_mode_that_does_not_fit_the_key_refuses_to_start(tmp_path):
    from bot.settings import SettingsError

    for env in ({"WECHAT_ENCODING_MODE": "safe"}, {"WECHAT_ENCODING_MODE": "plaintext", "WECHAT_AES_KEY": new_aes_key()},
                {"WECHAT_ENCODING_MODE": "secure"}):
        with pytest.raises(SettingsError):
            gateway(tmp_path, WECHAT_TOKEN=TOKEN, WECHAT_APP_ID=APP_ID, **env)
