"""The Telegram channel's own rules, without Rasa: splitting, buttons, secret prompts, delivery."""

from __future__ import annotations

import asyncio

import pytest

from bot.gateway.telegram import (
    TelegramChannel,
    TelegramMisconfigured,
    callback_data,
    parse_callback_data,
    split_message,
    text_for_telegram,
)
from bot.handoff import ConversationView, MessageView
from bot.phrases import say
from bot.settings import load_settings

UNIT_BOT_TOKEN = "7000000003:unit-test-token"


def settings_for(fake=None, **extra):
    env = {"WALLETBOT_SECRET": "unit-secret-0123456789abcdefghijklmnopq", "TELEGRAM_TOKEN": UNIT_BOT_TOKEN, **extra}
    if fake is not None:
        env["TELEGRAM_API_BASE_URL"] = fake.base_url
    return load_settings(env)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def bot_message(text: str, *, buttons=(), custom=None, message_id: int = 9) -> MessageView:
    return MessageView(id=message_id, conversation_id="c1", sender="bot", text=text, buttons=tuple(buttons), custom=custom)


def test_a_short_answer_is_one_piece():
    assert split_message("您好") == ["您好"]


def test_a_long_answer_is_cut_after_a_line_or_sentence_under_the_limit():
    paragraph = "数字钱包支持充值、提现、转账和付款。" * 40 + "\n"
    pieces = split_message(paragraph * 20)
    assert len(pieces) > 1
    assert all(utf16_units(piece) <= 4096 for piece in pieces)
    assert all(piece.endswith("。") for piece in pieces[:-1])
    assert "".join(pieces).replace("\n", "") == (paragraph * 20).replace("\n", "")


def test_emoji_count_twice_as_telegram_counts_them():
    pieces = split_message("😀" * 3000)
    assert [utf16_units(piece) for piece in pieces] == [4096, 1904]


def test_callback_data_is_a_short_server_side_id():
    data = callback_data(123456789012, "b12")
    assert data == "b:123456789012:b12" and len(data.encode()) <= 64
    assert parse_callback_data(data) == (123456789012, "b12")
    for forged in (None, "", "/affirm", "b:1:b1:extra", "b:x:b1", "b:1:" + "b" * 70):
        assert parse_callback_data(forged) is None


def test_a_pin_request_asks_for_the_digits_in_the_chat_instead_of_the_keypad():
    prompt = bot_message(say("pin_prompt"), custom={"type": "pin_request", "kind": "pin"})
    assert text_for_telegram(prompt) == say("telegram_pin_hint")
    wrong = bot_message(say("pin_wrong", attempts_left=4), custom={"type": "pin_request", "kind": "pin"})
    assert text_for_telegram(wrong) == say("pin_wrong", attempts_left=4) + "\n" + say("telegram_pin_hint")
    otp = bot_message(say("otp_sent", phone="138****8000", minutes=5), custom={"type": "pin_request", "kind": "otp"})
    assert text_for_telegram(otp).endswith(say("telegram_otp_hint"))


def test_webhook_mode_without_a_secret_token_refuses_to_start():
    with pytest.raises(TelegramMisconfigured):
        TelegramChannel(settings_for(TELEGRAM_WEBHOOK_URL="https://example.invalid/telegram/webhook"), None, None, None)


def test_a_delivered_long_message_arrives_in_pieces_with_the_buttons_on_the_last(fake_telegram):
    channel = TelegramChannel(settings_for(fake_telegram), None, None, None)
    telegram_chat = ConversationView(id="c1", channel="telegram", external_id="4242", customer_id=None, state="assigned")
    web_chat = ConversationView(id="c2", channel="web", external_id="v:abc", customer_id=None, state="assigned")
    text = ("您好，我是人工客服小王，关于您的问题说明如下。" * 30 + "\n") * 12
    reply = MessageView(id=77, conversation_id="c1", sender="agent", text=text, buttons=({"id": "b1", "title": "好的", "payload": ""},))

    async def scenario():
        await channel.application.initialize()
        try:
            await channel.deliver(telegram_chat, reply)
            await channel.deliver(web_chat, reply)  # not a Telegram conversation: nothing sent
        finally:
            await channel.application.shutdown()

    mark = fake_telegram.mark()
    asyncio.run(scenario())
    sent = fake_telegram.calls_since(mark, method="sendMessage", token=UNIT_BOT_TOKEN)
    assert len(sent) == 3 and {call.chat_id for call in sent} == {4242}  # 8,292 characters, cut at line ends
    assert all(utf16_units(call.text) <= 4096 for call in sent)
    assert "".join(call.text for call in sent).replace("\n", "") == text.replace("\n", "")
    assert not sent[0].buttons
    assert sent[-1].buttons == [{"text": "好的", "callback_data": "b:77:b1"}]
