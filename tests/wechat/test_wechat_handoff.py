"""A WeChat customer talks to a human agent: what the agent and the queue say arrives through WeChat's
customer-service message API, and the bot's rating question is answered with a number."""

from __future__ import annotations

import httpx
import pytest

from bot.phrases import say

pytestmark = pytest.mark.e2e


@pytest.fixture()
def agent(wechat_world):
    with httpx.Client(base_url=wechat_world.gateway_url, timeout=30.0) as client:
        response = client.post("/api/agent/login", json={"username": "agent1", "password": "agent1-pass"})
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client
        client.post("/api/agent/logout")


def test_an_agents_words_reach_the_wechat_customer_and_the_bot_comes_back(wechat, wechat_world, openid, agent):
    queued = wechat.say(openid, "转人工").text  # queued on the first ask (issue 9), no "好的" needed
    assert "正在为您转接人工客服" in queued and "预计等待" in queued and "回复 1 选择“取消排队”" in queued, queued
    conversation_id = wechat_world.conversation_id(openid)
    waiting = agent.get("/api/agent/queue").json()["waiting"]
    assert next(item for item in waiting if item["conversation_id"] == conversation_id)["channel"] == "wechat"

    assert agent.post(f"/api/agent/conversations/{conversation_id}/claim").status_code == 200
    assert agent.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": "您好，我是客服小王，请讲。"}).status_code == 200
    pushed = wechat_world.api.wait_for_texts(openid, 2)
    assert pushed[-1] == "您好，我是客服小王，请讲。" and "小王" in pushed[-2]

    assert wechat.say(openid, "我的钱包是不是被锁了").body == "success"  # for the agent, not the bot

    assert agent.post(f"/api/agent/conversations/{conversation_id}/resolve").status_code == 200
    rating = wechat_world.api.wait_for_texts(openid, 3)[-1]
    five_stars = say("wechat_option", number=5, title=say("handoff_rating_button", stars=5))
    assert "打个分" in rating and five_stars in rating, rating
    assert wechat.say(openid, "5").text == say("handoff_rated")
