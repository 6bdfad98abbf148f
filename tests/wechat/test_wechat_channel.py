"""The WeChat channel's own rules, without Rasa: splitting, numbered options, the access token, and who
delivers an answer when every request has given up. WeChat's API is `FakeWeChatApi`, in process."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
from wechatpy import parse_message

from bot.binding import Binder
from bot.db import make_engine, make_session_factory, upgrade_database
from bot.dedupe import Inbox
from bot.gateway.chat import Exchange
from bot.gateway.wechat import (
    REDACT_SECRETS,
    REPLY_BYTES_MAX,
    CustomerServiceApi,
    WeChatChannel,
    render,
    signature_is_valid,
    split_text,
)
from bot.handoff import ChatStore, MessageView
from bot.phrases import say
from bot.settings import SettingsError, load_settings
from tests.wechat.fake_wechat_api import FakeWeChatApi, WeChatPlatform

APP_ID, APP_SECRET, TOKEN = "wx-unit", "unit-app-secret", "unit-token"


def message(sender: str, text: str, buttons=(), custom=None, id=1) -> MessageView:
    stored = tuple({"id": f"b{i}", "title": title, "payload": ""} for i, title in enumerate(buttons, start=1))
    return MessageView(id=id, conversation_id="c", sender=sender, text=text, buttons=stored, custom=custom)


def test_a_long_text_is_split_between_lines_into_pieces_under_2048_bytes():
    text = "\n".join(f"第{i}条：数字钱包的充值、提现和转账说明。" * 3 for i in range(60))
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(p.encode()) <= REPLY_BYTES_MAX for p in pieces)
    assert "\n".join(pieces) == text


def test_a_single_overlong_line_is_cut_between_characters():
    pieces = split_text("钱" * 1000)  # 3,000 bytes
    assert [len(p) for p in pieces] == [682, 318] and "".join(pieces) == "钱" * 1000


def test_only_the_last_bot_messages_buttons_become_numbered_options():
    text = render([message("bot", "您是想了解：", ["开通钱包", "手续费"]), message("bot", "请确认", ["确认转账", "取消"])])
    assert say("wechat_option", number=1, title="确认转账") in text and say("wechat_option", number=2, title="取消") in text
    assert "开通钱包" not in text


def test_a_pin_request_says_to_type_the_pin_here_instead_of_on_a_keypad():
    request = message("bot", say("pin_prompt"), custom={"type": "pin_request", "kind": "pin"})
    assert render([request]) == say("wechat_pin_hint")


def test_a_signature_must_be_right_and_recent():
    platform = WeChatPlatform("http://unused", TOKEN, "a" * 43, APP_ID)
    fresh, stale = platform.signed_query(), platform.signed_query(timestamp=int(time.time()) - 600)
    platform.close()
    assert signature_is_valid(TOKEN, fresh["signature"], fresh["timestamp"], fresh["nonce"])
    assert not signature_is_valid("other-token", fresh["signature"], fresh["timestamp"], fresh["nonce"])
    assert not signature_is_valid(TOKEN, stale["signature"], stale["timestamp"], stale["nonce"])


def test_the_app_secret_and_access_token_are_redacted_from_httpx_logs():
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s', ("GET", "http://w/cgi-bin/token?appid=wx&secret=s3cr3t"), None)
    sent = logging.LogRecord("httpx", logging.INFO, __file__, 1, "POST http://w/send?access_token=t0k3n", (), None)
    assert REDACT_SECRETS.filter(record) and REDACT_SECRETS.filter(sent)
    assert "s3cr3t" not in record.getMessage() and "t0k3n" not in sent.getMessage() and "appid=wx" in record.getMessage()


def test_the_reply_deadline_is_a_validated_setting():
    assert load_settings({"WALLETBOT_SECRET": "x" * 40}).wechat_reply_deadline_s == 4.5
    assert load_settings({"WALLETBOT_SECRET": "x" * 40, "WECHAT_REPLY_DEADLINE_S": "1.5"}).wechat_reply_deadline_s == 1.5
    with pytest.raises(SettingsError):
        load_settings({"WALLETBOT_SECRET": "x" * 40, "WECHAT_REPLY_DEADLINE_S": "soon"})


# ---------------------------------------------------------------- the channel with a fake bot


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('wechat-unit') / 'walletbot.db'}"
    upgrade_database(url)
    return make_session_factory(make_engine(url))


class FakeChat:
    """ChatService's surface the channel uses, answering every text with `answer` after `delay_s`."""

    def __init__(self, sessions, answer: str, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.store = ChatStore(sessions)
        self.answer, self.delay_s, self.error = answer, delay_s, error
        self.texts: list[str] = []

    async def handle_text(self, conversation, text):
        self.texts.append(text)
        await asyncio.sleep(self.delay_s)
        if self.error:
            raise self.error
        reply = self.store.append(conversation.id, sender="bot", text=self.answer)
        return Exchange(customer_message=reply, replies=[reply])


def run_channel(sessions, chat: FakeChat, scenario, *, deadline_s: float = 1.0):
    """Run `scenario(channel, api, fake)` against a channel whose WeChat API is the in-process fake."""
    fake = FakeWeChatApi(APP_ID, APP_SECRET)
    settings = load_settings({"WALLETBOT_SECRET": "x" * 40, "WECHAT_TOKEN": TOKEN, "WECHAT_REPLY_DEADLINE_S": str(deadline_s)})

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app())) as http:
            api = CustomerServiceApi("http://wechat.test", APP_ID, APP_SECRET, http)
            channel = WeChatChannel(settings, chat, Binder(sessions, settings.secret), Inbox(sessions, settings.secret), api, sessions)
            result = await scenario(channel, api, fake)
            await channel.close()
            return result

    return asyncio.run(main())


_msg_ids = iter(range(10_000_000, 20_000_000))


def text_message(openid: str, content: str, msg_id: int | None = None):
    return parse_message(
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType>text</MsgType><Content>{content}</Content><MsgId>{msg_id or next(_msg_ids)}</MsgId></xml>"
    )


def test_a_long_answer_fills_the_passive_reply_and_the_rest_follows_through_the_api(sessions):
    answer = "\n".join(f"第{i}步：打开工行App，进入数字钱包，按提示完成开通。" for i in range(120))

    async def scenario(channel, api, fake):
        outcome = await channel.respond(text_message("o-long", "怎么开通"), asyncio.get_running_loop().time() + 1.0)
        await channel.send("o-long", outcome.follow_up)
        return outcome, fake.texts_to("o-long")

    outcome, sent = run_channel(sessions, FakeChat(sessions, answer), scenario)
    assert len(outcome.reply.encode()) <= REPLY_BYTES_MAX and sent
    assert "\n".join([outcome.reply, *sent]) == answer


def test_when_every_request_gave_up_the_answer_goes_through_the_api_exactly_once(sessions):
    chat = FakeChat(sessions, "答案", delay_s=0.3)

    async def scenario(channel, api, fake):
        loop = asyncio.get_running_loop()
        first = text_message("o-late", "问题")
        assert (await channel.respond(first, loop.time() + 0.1)).reply is None
        assert (await channel.respond(first, loop.time() + 0.1)).reply is None  # WeChat's retry, also too early
        await asyncio.sleep(0.5)
        assert (await channel.respond(first, loop.time() + 0.1)).reply is None  # and a late one: already sent
        return fake.texts_to("o-late")

    assert run_channel(sessions, chat, scenario) == ["答案"]
    assert chat.texts == ["问题"]


def test_an_expired_access_token_is_renewed_once_and_otherwise_cached(sessions):
    async def scenario(channel, api, fake):
        await api.send_text("o-token", "一")
        await api.send_text("o-token", "二")
        fake.expire_tokens()
        await api.send_text("o-token", "三")
        return fake.token_fetches, fake.texts_to("o-token")

    assert run_channel(sessions, FakeChat(sessions, ""), scenario) == (2, ["一", "二", "三"])


def test_a_failure_is_logged_without_the_customers_text_and_nothing_is_sent(sessions, caplog):
    chat = FakeChat(sessions, "", error=RuntimeError("卡号 6222020200112233445"))

    async def scenario(channel, api, fake):
        outcome = await channel.respond(text_message("o-error", "我的卡号6222020200112233445"), asyncio.get_running_loop().time() + 1.0)
        return outcome, fake.texts_to("o-error")

    with caplog.at_level(logging.INFO):
        outcome, sent = run_channel(sessions, chat, scenario)
    assert outcome.reply is None and sent == []
    assert "RuntimeError" in caplog.text and "6222020200112233445" not in caplog.text
