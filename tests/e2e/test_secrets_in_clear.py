"""A PIN typed in words never reaches the transcript, Rasa's tracker or an agent: the real stack over HTTP."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from sqlalchemy import select

from bot.db import make_engine, make_session_factory
from bot.handoff.models import ChatMessage
from bot.identity import issue_app_token

pytestmark = pytest.mark.e2e
PIN = "246810"  # 张三's demo PIN


@pytest.fixture()
def zhangsan(gateway_url, stack):
    token = issue_app_token(stack.settings.secret, "demo-zhangsan")
    with httpx.Client(base_url=gateway_url, timeout=60.0, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


def say(http: httpx.Client, text: str) -> dict:
    response = http.post("/api/chat/messages", json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()


def click(http: httpx.Client, messages: list[dict], title: str) -> list[dict]:
    holder = next(m for m in reversed(messages) if any(b["title"] == title for b in m.get("buttons", [])))
    button = next(b for b in holder["buttons"] if b["title"] == title)
    response = http.post("/api/chat/messages", json={"button": {"message_id": holder["id"], "id": button["id"]}})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def transcript(stack, conversation_id: str) -> str:
    factory = make_session_factory(make_engine(stack.settings.database_url))
    with factory() as session:
        return "\n".join(session.scalars(select(ChatMessage.text).where(ChatMessage.conversation_id == conversation_id)).all())


def tracker_events(stack, conversation_id: str) -> str:
    path = stack.log_dir.parent / f"rasa-tracker-{stack.settings.rasa_port}.db"
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT data FROM events WHERE sender_id = ?", (conversation_id,)).fetchall()
    assert rows, "Rasa kept no events for the conversation"
    return "\n".join(row[0] for row in rows)


def test_a_pin_typed_in_words_pays_the_transfer_and_is_stored_nowhere(zhangsan, stack):
    withheld = say(zhangsan, "我的支付密码是246810")  # no PIN was asked for: withheld, and the customer is warned
    conversation_id = withheld["conversation_id"]
    assert "已拦截" in withheld["customer_message"]["text"] and "修改支付密码" in withheld["customer_message"]["text"]

    summary = say(zhangsan, "给李四转10块")["messages"]
    asked = click(zhangsan, summary, "确认转账")
    assert any((m.get("custom") or {}).get("type") == "pin_request" for m in asked)
    paid = say(zhangsan, "我的支付密码是246810")  # while the PIN is awaited: verified on the secure path
    assert "转账成功" in "\n".join(m["text"] for m in paid["messages"])

    retyped = say(zhangsan, "246810。")  # within 10 minutes of the request: discarded
    assert "已拦截" in retyped["customer_message"]["text"] and retyped["messages"] == []

    assert PIN not in transcript(stack, conversation_id)
    assert PIN not in tracker_events(stack, conversation_id)
