"""Polling mode: the real python-telegram-bot application fetches updates from the fake Bot API server."""

from __future__ import annotations

import pytest

from bot.knowledge import get_knowledge_base
from tests.telegram.conftest import POLLING_BOT_TOKEN
from tests.telegram.fake_bot_api import message

pytestmark = pytest.mark.e2e


def test_the_polling_bot_fetches_a_message_and_answers_it(polling_gateway, fake_telegram):
    assert fake_telegram.calls_since(0, method="deleteWebhook", token=POLLING_BOT_TOKEN)  # polling needs no webhook
    update = message(880_001, text="数字钱包怎么开通")
    fake_telegram.push_update(POLLING_BOT_TOKEN, update)
    reply = fake_telegram.wait_for(lambda c: c.method == "sendMessage" and c.token == POLLING_BOT_TOKEN and c.chat_id == 880_001)
    assert reply.text == get_knowledge_base().get("open_steps").answer
    # The next poll confirms the update, so Telegram would not send it again.
    fake_telegram.wait_for(
        lambda c: c.method == "getUpdates" and c.token == POLLING_BOT_TOKEN and int(c.params.get("offset") or 0) > update["update_id"]
    )
