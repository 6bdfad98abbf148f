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


def test_messages_a_killed_gateway_held_are_answered_by_the_restarted_one_once(wechat, wechat_world, slow_bot):
    """WeChat gives up after its retries; the inbox keeps a message until its answer is on its way."""
    import secrets
    import signal
    import threading

    import httpx

    from bot.dedupe import Inbox
    from bot.phrases import say

    stack, held, thinking = wechat_world.stack, f"o-{secrets.token_urlsafe(12)}", f"o-{secrets.token_urlsafe(12)}"
    # 1. taken by a gateway that died before it began: the restarted one answers through the API.
    dead = Inbox(wechat_world.sessions, wechat_world.settings.secret, owner="killed-gateway")
    held_id = wechat.new_msg_id()
    assert dead.receive("wechat", str(held_id), wechat.text_xml(held, QUESTION, held_id))
    # 2. a real kill -9 while the bot is thinking about a message (its question already stored).
    msg_id = wechat.new_msg_id()
    first = threading.Thread(target=lambda: _ignore_errors(lambda: wechat.say(thinking, QUESTION, msg_id=msg_id)))
    first.start()
    deadline = time.monotonic() + 20
    while not any(m.sender == "customer" for m in wechat_world.transcript(thinking)):
        assert time.monotonic() < deadline, "the message never reached the gateway"
        time.sleep(0.05)
    stack.stop("gateway", signal.SIGKILL)
    first.join(timeout=30)
    wechat_world.rasa_proxy.delay_s = 0.0
    stack.restart("gateway")
    stack.wait_healthy()

    [answer] = wechat_world.api.wait_for_texts(held, 1, timeout_s=30)
    assert answer in ANSWERS
    retry = wechat.say(thinking, QUESTION, msg_id=msg_id)  # WeChat's retry reaches the new gateway
    delivered = ([retry.text] if retry.text else []) + wechat_world.api.texts_to(thinking)
    if not delivered:
        delivered = wechat_world.api.wait_for_texts(thinking, 1, timeout_s=30)
    assert delivered == [say("turn_interrupted")]  # honest, and the turn is not run a second time
    assert wechat.say(thinking, QUESTION, msg_id=msg_id).body == "success"  # and once only
    time.sleep(1.0)
    assert wechat_world.api.texts_to(held) == [answer]
    assert len(wechat_world.api.texts_to(thinking)) + bool(retry.text) == 1
    assert [m.text for m in wechat_world.transcript(thinking) if m.sender == "customer"] == [QUESTION]
    assert wechat.say(thinking, QUESTION).text in ANSWERS  # asked again, answered as usual
    assert httpx.get(f"{wechat_world.gateway_url}/healthz").status_code == 200


def _ignore_errors(call) -> None:
    try:
        call()
    except Exception:  # the gateway was killed under this request
        pass
