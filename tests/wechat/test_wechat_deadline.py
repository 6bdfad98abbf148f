"""WeChat waits 5 seconds, then retries the same MsgId: a slow bot's answer still reaches the customer, once."""

from __future__ import annotations

import time

import pytest

from bot.knowledge import get_knowledge_base
from tests.wechat.conftest import REPLY_DEADLINE_S

pytestmark = pytest.mark.e2e

QUESTION = "数字钱包怎么开通"
ANSWERS = {entry.answer for entry in get_knowledge_base().entries_for("ask_open_wallet")}


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_slow_answer_gets_success_in_time_then_arrives_through_the_customer_service_api(wechat, wechat_world, openid, slow_bot):
    reply, took_s = timed(lambda: wechat.say(openid, QUESTION))
    assert reply.body == "success" and REPLY_DEADLINE_S - 0.5 <= took_s < 5.0
    [delivered] = wechat_world.api.wait_for_texts(openid, 1, timeout_s=slow_bot + 10)
    assert delivered in ANSWERS
    time.sleep(0.5)
    assert len(wechat_world.api.texts_to(openid)) == 1


def test_a_retry_while_the_bot_is_still_thinking_gets_the_answer_passively_and_only_once(wechat, wechat_world, openid, slow_bot):
    msg_id = wechat.new_msg_id()
    first = wechat.say(openid, QUESTION, msg_id=msg_id)
    assert first.body == "success"
    retry = wechat.say(openid, QUESTION, msg_id=msg_id)  # WeChat's retry, still within the bot's thinking time
    assert retry.text in ANSWERS
    third = wechat.say(openid, QUESTION, msg_id=msg_id)
    assert third.body == "success"
    time.sleep(1.0)
    assert wechat_world.api.texts_to(openid) == []
    assert [m.text for m in wechat_world.transcript(openid) if m.sender == "customer"] == [QUESTION]


def test_a_repeated_msg_id_is_processed_once(wechat, wechat_world, openid):
    msg_id = wechat.new_msg_id()
    assert wechat.say(openid, QUESTION, msg_id=msg_id).text in ANSWERS
    assert wechat.say(openid, QUESTION, msg_id=msg_id, aes=True).body == "success"
    assert [m.text for m in wechat_world.transcript(openid) if m.sender == "customer"] == [QUESTION]
    assert wechat_world.api.texts_to(openid) == []
