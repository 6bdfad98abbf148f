"""Hostile messages through the web chat API, against the real gateway, Rasa and action server: never
a 5xx, never silence, never another customer's data.

The hostile customer is 陈静 (`c-chenjing`), a real wallet holder who is no demo customer, so the demo
customers' conversations stay as the other end-to-end tests expect them.
"""

from __future__ import annotations

import json

import httpx
import pytest

from bot.db import make_engine, make_session_factory
from bot.identity import issue_app_token
from bot.wallet import SqlAlchemyUnitOfWork, get_balance
from tests.abuse.corpus import HOSTILE, leaks, secrets_of

pytestmark = pytest.mark.e2e

VIEWER = "c-chenjing"
OTHERS = {"zhangsan", "lisi", "wangwu", "mom", "xiaoliu", "dad"}


@pytest.fixture(scope="module")
def others_secrets(stack) -> dict[str, str]:
    sessions = make_session_factory(make_engine(stack.settings.database_url))
    balances = {
        customer_id: get_balance(SqlAlchemyUnitOfWork(sessions, settings=stack.settings), customer_id).balance_fen
        for customer_id in ("demo-zhangsan", "demo-lisi", "demo-wangwu")
    }
    return secrets_of(OTHERS, balances)


@pytest.fixture(scope="module")
def hostile(stack, gateway_url):
    token = issue_app_token(stack.settings.secret, VIEWER)
    with httpx.Client(base_url=gateway_url, timeout=60.0, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def shown(messages: list[dict]) -> str:
    return "\n".join([m["text"] for m in messages] + [b["title"] for m in messages for b in m.get("buttons") or []])


def test_hostile_messages_get_a_polite_answer_and_nobody_elses_data(hostile, others_secrets):
    problems = []
    for label, text in HOSTILE:
        response = hostile.post("/api/chat/messages", json={"text": text})
        if response.status_code == 422:
            if not any("\u4e00" <= ch <= "\u9fff" for ch in response.json()["detail"]):
                problems.append(f"{label}: 422 without a Chinese reason")
            continue
        if response.status_code != 200:
            problems.append(f"{label}: HTTP {response.status_code} {response.text[:200]}")
            continue
        replies = response.json()["messages"]
        if not replies:
            problems.append(f"{label}: no answer at all")
        exposed = leaks(shown(replies), {k: v for k, v in others_secrets.items() if v not in text})
        if exposed:
            problems.append(f"{label}: shows {exposed}: {shown(replies)[:300]}")
    assert problems == []
    history = hostile.get("/api/chat/messages").json()["messages"]
    bot_said = shown([m for m in history if m["sender"] != "customer"])
    assert leaks(bot_said, {k: v for k, v in others_secrets.items() if not k.endswith("customer id")}) == []


MALFORMED = [
    ("not json", b"{text: hi"),
    ("invalid utf-8", b'{"text": "\xff\xfe\xfd"}'),
    ("lone surrogate", b'{"text": "\\ud800\\udfff\\ud800"}'),
    ("deep nesting", b'{"text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
    ("number", b'{"text": 246810}'),
    ("null", b'{"text": null}'),
    ("list", b'{"text": ["a", "b"]}'),
    ("both", b'{"text": "hi", "button": {"message_id": 1, "id": "b1"}}'),
    ("huge message id", b'{"button": {"message_id": 100000000000000000000000, "id": "b1"}}'),
    ("negative message id", b'{"button": {"message_id": -1, "id": "b1"}}'),
    ("float message id", b'{"button": {"message_id": 1e308, "id": "b1"}}'),
    ("someone else's button", b'{"button": {"message_id": 1, "id": "b1"}}'),
    ("empty body", b""),
    ("array body", b"[]"),
    ("1 MB", json.dumps({"text": "x" * 1_000_000}).encode()),
]


def test_malformed_requests_are_refused_with_a_4xx(hostile):
    problems = []
    for label, body in MALFORMED:
        response = hostile.post("/api/chat/messages", content=body, headers={"Content-Type": "application/json"})
        if not 200 <= response.status_code < 500 or (response.status_code == 200 and label != "both"):
            problems.append(f"{label}: HTTP {response.status_code} {response.text[:120]}")
    for label, params in [("huge after", {"after": str(10**30)}), ("text after", {"after": "x"}), ("negative after", {"after": "-1"})]:
        response = hostile.get("/api/chat/messages", params=params)
        if response.status_code != 422:
            problems.append(f"{label}: HTTP {response.status_code}")
    for label, body in [("pin as a number", {"pin": 246810}), ("pin lone surrogate", {"pin": "\ud800" * 6}), ("pin and otp", {"pin": "1", "otp": "2"}),
                        ("arabic digits", {"pin": "٢٤٦٨١٠"}), ("long pin", {"pin": "1" * 10_000})]:
        response = hostile.post("/api/chat/pin", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        if not 400 <= response.status_code < 500 or "246810" in response.text:
            problems.append(f"{label}: HTTP {response.status_code} {response.text[:120]}")
    assert problems == []
