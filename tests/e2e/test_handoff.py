"""A customer asks for a human and gets one, over real HTTP against the real gateway, Rasa and actions.

The agent signs into the console API; the customer follows the conversation both by polling
`GET /api/chat/messages` and live over Server-Sent Events; Rasa's own tracker shows what reached it.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from bot.identity import issue_app_token

pytestmark = pytest.mark.e2e


class SseListener:
    """Reads one Server-Sent Events stream in a thread and keeps every (event, data) it sees."""

    def __init__(self, client: httpx.Client, path: str) -> None:
        self.events: list[tuple[str, dict]] = []
        self._client, self._path = client, path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        event = "message"
        with self._client.stream("GET", self._path, timeout=httpx.Timeout(60.0, read=20.0)) as response:
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    self.events.append((event, json.loads(line[5:])))

    def wait_for(self, predicate, timeout_s: float = 15.0) -> tuple[str, dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for item in list(self.events):
                if predicate(*item):
                    return item
            time.sleep(0.05)
        raise AssertionError(f"no matching event among {self.events}")

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture()
def customer(gateway_url, stack):
    token = issue_app_token(stack.settings.secret, "demo-wangwu")
    with httpx.Client(base_url=gateway_url, timeout=60.0, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client



def say(client: httpx.Client, text: str) -> list[dict]:
    response = client.post("/api/chat/messages", json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def rasa_user_texts(stack, conversation_id: str) -> list[str]:
    tracker = httpx.get(
        f"{stack.settings.rasa_url}/conversations/{conversation_id}/tracker",
        params={"token": stack.settings.rasa_api_token},
        timeout=10.0,
    ).json()
    return [event.get("text") for event in tracker["events"] if event["event"] == "user"]


def test_a_customer_asks_for_a_human_talks_to_an_agent_and_gets_the_bot_back(customer, agent, stack):
    queued = say(customer, "转人工")  # queued on the first ask (issue 9), no "好的" needed
    assert queued[-1]["sender"] == "system" and queued[-1]["text"].startswith("正在为您转接人工客服"), queued
    history = customer.get("/api/chat/messages").json()
    conversation_id = history["conversation_id"]
    assert history["state"] == "queued" and history["queue"]["position"] >= 0 and history["queue"]["eta_minutes"] >= 1

    customer_events = SseListener(customer, f"/api/chat/events?after={history['messages'][-1]['id']}")
    agent_events = SseListener(agent, "/api/agent/events")
    try:
        customer_events.wait_for(lambda event, data: event == "state" and data["state"] == "queued" and "queue" in data)
        waiting = agent.get("/api/agent/queue").json()["waiting"]
        mine = next(item for item in waiting if item["conversation_id"] == conversation_id)
        assert (mine["reason"], mine["channel"], mine["customer"]) == ("customer_request", "web", "*五")

        assert agent.post(f"/api/agent/conversations/{conversation_id}/claim").status_code == 200
        customer_events.wait_for(lambda event, data: event == "state" and data == {"state": "assigned", "agent": {"name": "小王"}})
        reply = agent.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": "您好，我是客服小王，请讲。"})
        assert reply.status_code == 200
        customer_events.wait_for(lambda event, data: event == "message" and data["sender"] == "agent" and data["text"] == "您好，我是客服小王，请讲。")
        polled = customer.get("/api/chat/messages").json()
        assert polled["state"] == "assigned" and polled["messages"][-1]["text"] == "您好，我是客服小王，请讲。"

        assert say(customer, "我的钱包是不是被锁了") == []
        agent_events.wait_for(lambda event, data: event == "message" and data["message"]["text"] == "我的钱包是不是被锁了")
        assert "我的钱包是不是被锁了" not in rasa_user_texts(stack, conversation_id)

        assert agent.post(f"/api/agent/conversations/{conversation_id}/resolve").status_code == 200
        customer_events.wait_for(lambda event, data: event == "state" and data == {"state": "bot"})
    finally:
        customer_events.stop()
        agent_events.stop()

    resumed = customer.get("/api/chat/messages").json()
    rating = resumed["messages"][-1]
    assert resumed["state"] == "bot" and rating["sender"] == "bot" and "打个分" in rating["text"]
    thanks = customer.post("/api/chat/messages", json={"button": {"message_id": rating["id"], "id": rating["buttons"][4]["id"]}})
    assert thanks.json()["messages"][-1]["text"].startswith("感谢您的评价")
    answer = say(customer, "数字钱包是什么")
    assert answer and answer[-1]["sender"] == "bot" and "钱包" in answer[-1]["text"]
    assert rasa_user_texts(stack, conversation_id)[-1] == "数字钱包是什么"
