"""The agent console's API and the customer's side of the handoff, on a real SQLite database.

Rasa is played by `httpx.MockTransport` (swapped in for the app's client after start-up), so the
tests can also prove what never reaches it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db import make_engine, make_session_factory, upgrade_database
from bot.gateway.app import create_app
from bot.gateway.chat import HUMAN_REQUEST_PAYLOAD
from bot.gateway.rasa_client import RasaClient
from bot.handoff.agents import add_agent, seed_demo_agents
from bot.identity import issue_app_token
from bot.knowledge import get_knowledge_base
from bot.settings import load_settings
from bot.wallet import SqlAlchemyUnitOfWork, freeze_wallet, get_balance, seed_demo
from bot.wallet.models import AuditEntry
from tests.conftest import free_port

ENV = {
    "WALLETBOT_SECRET": "console-secret-0123456789abcdefghijklmnop",
    "WALLETBOT_BUSINESS_HOURS": "00:00-24:00",
    "WALLETBOT_PIN_HASH_TIME_COST": "1",
    "WALLETBOT_PIN_HASH_MEMORY_KIB": "1024",
    "WALLETBOT_PIN_HASH_PARALLELISM": "1",
}
HANDOFF_REPLY = [
    {"recipient_id": "x", "text": "好的，正在为您转接人工客服，请稍候。"},
    {"recipient_id": "x", "custom": {"type": "handoff", "reason": "customer_request"}},
]
FAQ_REPLY = [{"recipient_id": "x", "text": "数字钱包是本行推出的手机金融服务工具。"}]


@dataclass
class FakeRasa:
    """Answers `/webhooks/walletbot/webhook` with the next scripted reply; records every call."""

    replies: list[list[dict]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    events: list[list[dict]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"null")
        if request.url.path == "/webhooks/walletbot/webhook":
            self.messages.append(body["message"])
            return httpx.Response(200, json=self.replies.pop(0) if self.replies else FAQ_REPLY)
        if request.url.path.endswith("/tracker/events"):
            self.events.append(body)
            return httpx.Response(200, json={})
        return httpx.Response(404, json={})


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    """Migrated, with the demo customers and agent1, built once and copied for each test."""
    path = tmp_path_factory.mktemp("console") / "template.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    settings = load_settings({**ENV, "DATABASE_URL": url})
    engine = make_engine(url)
    factory = make_session_factory(engine)
    seed_demo(SqlAlchemyUnitOfWork(factory, settings=settings))
    seed_demo_agents(factory, settings)
    add_agent(SqlAlchemyUnitOfWork(factory, settings=settings), username="agent2", password="agent2-pass", display_name="小李")
    engine.dispose()
    return path


@pytest.fixture()
def client(template_db, tmp_path):
    path = tmp_path / "gateway.db"
    shutil.copy(template_db, path)
    url = f"sqlite:///{path}"
    settings = load_settings({**ENV, "DATABASE_URL": url, "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())})
    engine = make_engine(url)
    app = create_app(settings, session_factory=make_session_factory(engine))
    with TestClient(app) as test_client:
        rasa = FakeRasa()
        app.state.chat.rasa = RasaClient("http://rasa.test", timeout_s=5, transport=httpx.MockTransport(rasa.handler))
        test_client.rasa = rasa
        test_client.settings = settings
        test_client.session_factory = make_session_factory(engine)
        yield test_client
    engine.dispose()


class Customer:
    def __init__(self, client: TestClient, customer_id: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {issue_app_token(client.settings.secret, customer_id)}"}

    def say(self, text: str) -> dict:
        response = self.client.post("/api/chat/messages", json={"text": text}, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def click(self, message: dict, title: str) -> dict:
        button = next(b for b in message["buttons"] if b["title"] == title)
        response = self.client.post("/api/chat/messages", json={"button": {"message_id": message["id"], "id": button["id"]}}, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def history(self) -> dict:
        return self.client.get("/api/chat/messages", headers=self.headers).json()

    def asks_for_a_human(self) -> dict:
        self.client.rasa.replies.append(HANDOFF_REPLY)
        return self.say("转人工")


class Agent:
    """One signed-in agent; the shared cookie jar is set to this agent's session before each call."""

    def __init__(self, client: TestClient, username: str, password: str | None = None) -> None:
        self.client = client
        response = client.post("/api/agent/login", json={"username": username, "password": password or f"{username}-pass"})
        assert response.status_code == 200, response.text
        self.token = response.cookies["wb_agent"]
        self.csrf = response.json()["csrf_token"]

    def _use(self) -> None:
        self.client.cookies.clear()
        self.client.cookies.set("wb_agent", self.token)

    def get(self, path: str) -> httpx.Response:
        self._use()
        return self.client.get(path)

    def post(self, path: str, body: dict | None = None) -> httpx.Response:
        self._use()
        return self.client.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf})

    def act(self, conversation_id: str, action: str, body: dict | None = None) -> httpx.Response:
        return self.post(f"/api/agent/conversations/{conversation_id}/{action}", body)


def audit_actions(client, target: str) -> list[tuple[str, str]]:
    with client.session_factory() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.target == target).order_by(AuditEntry.id)).all()
        return [(row.actor, row.action) for row in rows]


AGENT_GETS = ["/api/agent/me", "/api/agent/queue", "/api/agent/conversations/abc", "/api/agent/canned", "/api/agent/tickets", "/api/agent/events"]
AGENT_POSTS = [
    "/api/agent/logout", "/api/agent/status", "/api/agent/conversations/abc/claim", "/api/agent/conversations/abc/messages",
    "/api/agent/conversations/abc/notes", "/api/agent/conversations/abc/transfer", "/api/agent/conversations/abc/unlock-wallet",
    "/api/agent/conversations/abc/resolve", "/api/agent/tickets/1/close",
]
POST_BODIES = {"status": {"status": "online"}, "messages": {"text": "您好"}, "notes": {"text": "备注"}, "transfer": {"to": "agent2"}}


def body_for(path: str) -> dict:
    return POST_BODIES.get(path.rsplit("/", 1)[-1], {})


# ── sign-in and forgeries ──────────────────────────────────────────────────────────────────────


def test_login_sets_an_httponly_strict_session_cookie_and_returns_a_csrf_token(client):
    response = client.post("/api/agent/login", json={"username": "agent1", "password": "agent1-pass"})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "wb_agent=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert response.json()["agent"] == {"username": "agent1", "name": "小王", "status": "online", "capacity": 3}
    me = client.get("/api/agent/me").json()
    assert me["csrf_token"] == response.json()["csrf_token"] and me["agent"]["username"] == "agent1"


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client):
    for username in ("agent1", "nobody"):
        response = client.post("/api/agent/login", json={"username": username, "password": "guess-1234"})
        assert response.status_code == 401 and response.json()["detail"] == "用户名或密码错误。"
        assert "set-cookie" not in response.headers


def test_five_failures_lock_the_account_even_against_the_right_password(client):
    for _ in range(4):
        assert client.post("/api/agent/login", json={"username": "agent1", "password": "guess-1234"}).status_code == 401
    locked = client.post("/api/agent/login", json={"username": "agent1", "password": "guess-1234"})
    assert locked.status_code == 429 and "锁定" in locked.json()["detail"] and int(locked.headers["retry-after"]) > 800
    again = client.post("/api/agent/login", json={"username": "agent1", "password": "agent1-pass"})
    assert again.status_code == 429 and "set-cookie" not in again.headers


@pytest.mark.parametrize("path", AGENT_GETS)
def test_agent_reads_without_a_session_are_refused_in_chinese(client, path):
    response = client.get(path)
    assert response.status_code == 401 and response.json()["detail"] == "请先登录客服工作台。"


@pytest.mark.parametrize("path", AGENT_POSTS)
def test_agent_actions_without_a_session_are_refused_in_chinese(client, path):
    response = client.post(path, json=body_for(path), headers={"X-CSRF-Token": "anything"})
    assert response.status_code == 401 and response.json()["detail"] == "请先登录客服工作台。"


@pytest.mark.parametrize("path", AGENT_POSTS)
def test_agent_actions_with_a_missing_or_wrong_csrf_token_are_refused(client, path):
    agent = Agent(client, "agent1")
    agent._use()
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": Agent(client, "agent2").csrf}):
        agent._use()
        response = client.post(path, json=body_for(path), headers=headers)
        assert response.status_code == 403 and response.json()["detail"] == "请求校验失败，请刷新页面后重试。"


def test_a_forged_session_cookie_is_refused(client):
    client.cookies.set("wb_agent", "forged-session-token")
    assert client.get("/api/agent/queue").status_code == 401


def test_logout_ends_the_session_and_clears_the_cookie(client):
    agent = Agent(client, "agent1")
    response = agent.post("/api/agent/logout")
    assert response.status_code == 200 and 'wb_agent=""' in response.headers["set-cookie"]
    assert agent.get("/api/agent/me").status_code == 401


def test_the_console_page_is_served_with_a_strict_content_security_policy(client):
    response = client.get("/console/")
    assert response.status_code == 200 and "客服工作台" in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/"


# ── the customer's side ────────────────────────────────────────────────────────────────────────


def test_a_customer_who_asks_for_a_human_is_queued_and_sees_position_and_wait(client):
    Agent(client, "agent1")
    customer = Customer(client, "demo-zhangsan")
    reply = customer.asks_for_a_human()
    bot, notice = reply["messages"]
    assert bot["custom"]["type"] == "handoff"
    assert notice["sender"] == "system" and notice["text"] == "正在为您转接人工客服，您是下一位，预计等待 1 分钟。"
    assert [b["title"] for b in notice["buttons"]] == ["取消排队"] and "payload" not in notice["buttons"][0]
    history = customer.history()
    assert history["state"] == "queued" and history["queue"] == {"position": 0, "eta_minutes": 1}
    second = Customer(client, "demo-lisi").asks_for_a_human()
    assert second["messages"][-1]["text"] == "正在为您转接人工客服，前面还有 1 位，预计等待 3 分钟。"


def test_while_queued_the_customers_messages_never_reach_rasa(client):
    Agent(client, "agent1")
    customer = Customer(client, "demo-zhangsan")
    customer.asks_for_a_human()
    reply = customer.say("我的钱被盗刷了，快帮我看看")
    # The gateway acknowledges the message and says where the customer stands (issue 9); Rasa never sees it.
    [ack] = reply["messages"]
    assert ack["sender"] == "system" and "客服接入后会看到" in ack["text"] and "下一位" in ack["text"]
    assert reply["customer_message"]["sender"] == "customer"
    assert client.rasa.messages == [HUMAN_REQUEST_PAYLOAD]  # the gateway asked for the handoff itself; the queued message never went


def test_when_the_bot_is_down_the_customer_is_queued_for_a_human(client):
    Agent(client, "agent1")
    client.app.state.chat.rasa = RasaClient(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    customer = Customer(client, "demo-wangwu")
    [reply] = customer.say("数字钱包怎么开通")["messages"]
    assert reply["text"].startswith("抱歉，智能客服暂时无法回复。正在为您转接人工客服")
    items = Agent(client, "agent2").get("/api/agent/queue").json()["waiting"]
    assert [(i["reason"], i["reason_label"]) for i in items] == [("bot_unavailable", "机器人故障")]


def test_with_nobody_online_the_customer_can_leave_a_message_that_agents_then_see(client):
    customer = Customer(client, "demo-zhangsan")
    offer = customer.asks_for_a_human()["messages"][-1]
    assert "我要留言" in offer["text"] and "2 小时内" in offer["text"]
    prompt = customer.click(offer, "我要留言")["messages"][-1]
    assert "预留的手机号" in prompt["text"]
    saved = customer.say("付款失败但扣了钱，订单号 A123")["messages"][-1]
    assert saved["text"].startswith("已收到您的留言（编号 ") and "2 小时内联系您" in saved["text"]
    assert client.rasa.messages == [HUMAN_REQUEST_PAYLOAD]
    agent = Agent(client, "agent1")
    [ticket] = agent.get("/api/agent/tickets").json()["tickets"]
    assert ticket["text"] == "付款失败但扣了钱，订单号 A123" and ticket["verified"]
    assert agent.get("/api/agent/queue").json()["tickets_open"] == 1
    assert agent.post(f"/api/agent/tickets/{ticket['id']}/close").status_code == 200
    again = agent.post(f"/api/agent/tickets/{ticket['id']}/close")
    assert again.status_code == 404 and again.json()["detail"] == "该留言不存在或已处理。"


def test_a_customer_can_leave_the_queue(client):
    agent = Agent(client, "agent1")
    customer = Customer(client, "demo-zhangsan")
    notice = customer.asks_for_a_human()["messages"][-1]
    left = customer.click(notice, "取消排队")["messages"][-1]
    assert "已为您取消排队" in left["text"] and customer.history()["state"] == "bot"
    assert agent.get("/api/agent/queue").json()["waiting"] == []
    assert client.rasa.events[-1][-1] == {"event": "slot", "name": "pending_offer", "value": None}


def test_a_conversation_waiting_past_the_timeout_returns_to_the_bot_with_the_ticket_offer(client):
    Agent(client, "agent1")
    customer = Customer(client, "demo-zhangsan")
    customer.asks_for_a_human()
    later = datetime.now(timezone.utc) + timedelta(seconds=client.settings.queue_wait_timeout_s + 1)
    assert client.portal.call(client.app.state.chat.handoff.sweep, later) == 1
    history = customer.history()
    assert history["state"] == "bot" and history["messages"][-1]["text"].startswith("抱歉让您久等了")
    assert [b["title"] for b in history["messages"][-1]["buttons"]] == ["我要留言", "不用了"]


# ── the agent's side ───────────────────────────────────────────────────────────────────────────


def queued_conversation(client, customer_id="demo-zhangsan") -> tuple[Customer, str]:
    customer = Customer(client, customer_id)
    conversation_id = customer.asks_for_a_human()["conversation_id"]
    return customer, conversation_id


def test_the_queue_shows_priority_reason_channel_and_waiting_time(client):
    agent = Agent(client, "agent1")
    queued_conversation(client, "demo-zhangsan")
    client.rasa.replies.append([{"text": "已为您冻结数字钱包。"}, {"custom": {"type": "handoff", "reason": "fraud", "priority": "urgent"}}])
    Customer(client, "demo-lisi").say("我被骗了")
    body = agent.get("/api/agent/queue").json()
    assert [(i["customer"], i["priority"], i["reason_label"], i["channel_label"], i["position"]) for i in body["waiting"]] == [
        ("*四", 0, "欺诈/盗刷", "网页", 0),
        ("*三", 2, "客户要求", "网页", 1),
    ]
    assert all(i["waiting_s"] >= 0 and i["preview"] for i in body["waiting"])
    assert {a["username"]: a["online"] for a in body["agents"]} == {"agent1": True, "agent2": False}


def test_an_agent_claims_replies_and_the_customer_reads_the_reply(client):
    agent = Agent(client, "agent1")
    customer, conversation_id = queued_conversation(client)
    claimed = agent.act(conversation_id, "claim")
    assert claimed.status_code == 200 and claimed.json()["state"] == "assigned"
    reply = agent.act(conversation_id, "messages", {"text": "您好，我是小王，请问有什么可以帮您？"})
    assert reply.status_code == 200
    history = customer.history()
    assert history["state"] == "assigned" and history["agent"] == {"name": "小王"}
    assert [(m["sender"], m["text"]) for m in history["messages"][-2:]] == [
        ("system", "人工客服 小王 已接入，正在为您服务。"),
        ("agent", "您好，我是小王，请问有什么可以帮您？"),
    ]
    customer.say("我想解冻钱包")
    assert client.rasa.messages == [HUMAN_REQUEST_PAYLOAD]
    view = agent.get(f"/api/agent/conversations/{conversation_id}").json()
    assert view["mine"] and view["messages"][-1]["text"] == "我想解冻钱包"
    assert ("agent:agent1", "agent_message") in audit_actions(client, conversation_id)


def test_a_conversation_already_claimed_cannot_be_claimed_again(client):
    first, second = Agent(client, "agent1"), Agent(client, "agent2")
    _, conversation_id = queued_conversation(client)
    assert first.act(conversation_id, "claim").status_code == 200
    response = second.act(conversation_id, "claim")
    assert response.status_code == 409 and "已不在排队中" in response.json()["detail"]


def test_an_offline_agent_cannot_claim(client):
    agent = Agent(client, "agent1")
    Agent(client, "agent2")
    _, conversation_id = queued_conversation(client)
    assert agent.post("/api/agent/status", {"status": "offline"}).json()["agent"]["status"] == "offline"
    response = agent.act(conversation_id, "claim")
    assert response.status_code == 409 and response.json()["detail"] == "您当前为离线状态，请先切换为“在线”再接入客户。"


def test_the_agent_sees_the_whole_transcript_and_the_verified_customer_context_masked(client):
    agent = Agent(client, "agent1")
    customer = Customer(client, "demo-zhangsan")
    customer.say("数字钱包是什么")
    conversation_id = customer.asks_for_a_human()["conversation_id"]
    view = agent.get(f"/api/agent/conversations/{conversation_id}").json()
    assert [m["sender"] for m in view["messages"]] == ["customer", "bot", "customer", "bot", "system"]
    context = view["customer"]
    assert (context["name"], context["phone"]) == ("*三", "138****5678")
    assert context["wallet"]["status"] == "active" and context["wallet"]["balance"] == "¥12,345.67"
    assert 1 <= len(context["transactions"]) <= 5 and context["drafts"] == []
    assert "13812345678" not in json.dumps(view, ensure_ascii=False) and "张三" not in json.dumps(view, ensure_ascii=False)
    assert ("agent:agent1", "conversation_viewed") in audit_actions(client, conversation_id)


def test_a_visitor_has_no_customer_context(client):
    agent = Agent(client, "agent1")
    client.rasa.replies.append(HANDOFF_REPLY)
    conversation_id = client.post("/api/chat/messages", json={"text": "转人工"}).json()["conversation_id"]
    assert agent.get(f"/api/agent/conversations/{conversation_id}").json()["customer"] is None


def test_another_agents_conversation_can_be_neither_read_nor_touched(client):
    owner, other = Agent(client, "agent1"), Agent(client, "agent2")
    _, conversation_id = queued_conversation(client)
    owner.act(conversation_id, "claim")
    assert other.get(f"/api/agent/conversations/{conversation_id}").status_code == 403
    for action, body in (("messages", {"text": "冒充"}), ("notes", {"text": "偷看"}), ("transfer", {"to": "agent2"}),
                         ("unlock-wallet", {"identity_verified": True}), ("resolve", {})):
        response = other.act(conversation_id, action, body)
        assert response.status_code == 403 and response.json()["detail"] == "该会话不由您接待，无法查看或操作。", action
    assert other.get(f"/api/agent/conversations/{'f' * 32}").status_code == 404


def test_private_notes_stay_out_of_the_customers_transcript(client):
    agent = Agent(client, "agent1")
    customer, conversation_id = queued_conversation(client)
    agent.act(conversation_id, "claim")
    note = agent.act(conversation_id, "notes", {"text": "客户情绪激动，已安抚"}).json()["note"]
    assert note["author"] == "小王"
    assert all("情绪激动" not in m["text"] for m in customer.history()["messages"])
    assert agent.get(f"/api/agent/conversations/{conversation_id}").json()["notes"][0]["text"] == "客户情绪激动，已安抚"


def test_empty_or_overlong_agent_text_is_refused_in_chinese(client):
    agent = Agent(client, "agent1")
    _, conversation_id = queued_conversation(client)
    agent.act(conversation_id, "claim")
    assert agent.act(conversation_id, "messages", {"text": "   "}).json()["detail"] == "请输入内容。"
    response = agent.act(conversation_id, "messages", {"text": "长" * 2001})
    assert response.status_code == 422 and "太长" in response.json()["detail"]
    assert agent.act(conversation_id, "messages", {"wrong": 1}).status_code == 422


def test_transfer_hands_the_customer_to_another_agent(client):
    first, second = Agent(client, "agent1"), Agent(client, "agent2")
    customer, conversation_id = queued_conversation(client)
    first.act(conversation_id, "claim")
    assert first.act(conversation_id, "transfer", {"to": "agent1"}).json()["detail"] == "不能转接给自己。"
    assert first.act(conversation_id, "transfer", {"to": "nobody"}).status_code == 404
    response = first.act(conversation_id, "transfer", {"to": "agent2"})
    assert response.status_code == 200 and response.json()["agent"] == {"username": "agent2", "name": "小李"}
    assert customer.history()["agent"] == {"name": "小李"}
    assert first.act(conversation_id, "messages", {"text": "还在吗"}).status_code == 403
    assert second.act(conversation_id, "messages", {"text": "您好，我是小李"}).status_code == 200


def test_unlocking_a_wallet_needs_the_identity_tick_and_is_audit_logged(client):
    uow = SqlAlchemyUnitOfWork(client.session_factory, settings=client.settings)
    freeze_wallet(uow, customer_id="demo-lisi", reason="customer_fraud_report", actor="customer:demo-lisi")
    agent = Agent(client, "agent1")
    customer, conversation_id = queued_conversation(client, "demo-lisi")
    agent.act(conversation_id, "claim")
    refused = agent.act(conversation_id, "unlock-wallet", {"identity_verified": False})
    assert refused.status_code == 422 and "核实客户身份" in refused.json()["detail"]
    done = agent.act(conversation_id, "unlock-wallet", {"identity_verified": True})
    assert done.status_code == 200 and done.json()["wallet_status"] == "active"
    assert get_balance(SqlAlchemyUnitOfWork(client.session_factory, settings=client.settings), "demo-lisi").status == "active"
    assert "解除了钱包锁定" in customer.history()["messages"][-1]["text"]
    assert ("agent:agent1", "wallet_unlocked") in audit_actions(client, "demo-lisi")
    assert ("agent:agent1", "wallet_unlocked") in audit_actions(client, conversation_id)
    again = agent.act(conversation_id, "unlock-wallet", {"identity_verified": True})
    assert again.status_code == 409 and "无需解锁" in again.json()["detail"]


def test_a_visitors_wallet_cannot_be_unlocked(client):
    agent = Agent(client, "agent1")
    client.rasa.replies.append(HANDOFF_REPLY)
    conversation_id = client.post("/api/chat/messages", json={"text": "转人工"}).json()["conversation_id"]
    agent.act(conversation_id, "claim")
    response = agent.act(conversation_id, "unlock-wallet", {"identity_verified": True})
    assert response.status_code == 409 and "访客" in response.json()["detail"]


def test_resolve_gives_the_customer_back_to_the_bot_which_asks_for_a_rating_once(client):
    agent = Agent(client, "agent1")
    customer, conversation_id = queued_conversation(client)
    agent.act(conversation_id, "claim")
    assert agent.act(conversation_id, "resolve").json() == {"conversation_id": conversation_id, "state": "bot"}
    history = customer.history()
    rating = history["messages"][-1]
    assert history["state"] == "bot" and rating["sender"] == "bot" and "打个分" in rating["text"]
    assert [b["title"] for b in rating["buttons"]] == ["1分", "2分", "3分", "4分", "5分"]
    assert client.rasa.events[-1] == [
        {"event": "bot", "text": rating["text"]},
        {"event": "slot", "name": "pending_offer", "value": None},
    ]
    assert customer.click(rating, "5分")["messages"][-1]["text"].startswith("感谢您的评价")
    assert "已经评价过" in customer.click(rating, "1分")["messages"][-1]["text"]
    assert client.rasa.messages == [HUMAN_REQUEST_PAYLOAD]
    customer.say("数字钱包是什么")
    assert client.rasa.messages == [HUMAN_REQUEST_PAYLOAD, "数字钱包是什么"]
    assert ("agent:agent1", "conversation_resolved") in audit_actions(client, conversation_id)


def test_signing_out_returns_the_agents_customers_to_the_queue(client):
    agent = Agent(client, "agent1")
    Agent(client, "agent2")
    customer, conversation_id = queued_conversation(client)
    agent.act(conversation_id, "claim")
    agent.post("/api/agent/logout")
    history = customer.history()
    assert history["state"] == "queued" and "重新排队" in history["messages"][-2]["text"]


def test_canned_answers_come_from_the_knowledge_base(client):
    answers = Agent(client, "agent1").get("/api/agent/canned").json()["answers"]
    knowledge = get_knowledge_base()
    assert len(answers) == len(knowledge.entries)
    first = answers[0]
    assert first["text"] == knowledge.get(first["id"]).answer and first["title"]


def test_a_messenger_customer_gets_agent_replies_and_the_resume_through_the_channels_deliverer(client):
    chat = client.app.state.chat
    delivered: list[tuple[str, str]] = []

    async def deliver(conversation, message):
        delivered.append((message.sender, message.text))
        if message.sender == "agent":
            raise RuntimeError("the messenger API is down")  # the agent's request must not fail

    chat.register_channel("telegram", deliver)
    agent = Agent(client, "agent1")
    conversation = chat.store.open_conversation(channel="telegram", external_id="tg:42", customer_id="demo-zhangsan")
    client.rasa.replies.append(HANDOFF_REPLY)
    exchange = client.portal.call(chat.handle_text, conversation, "转人工")
    assert exchange.replies[-1].text.startswith("正在为您转接人工客服") and delivered == []  # the channel sends its own replies
    assert agent.get("/api/agent/queue").json()["waiting"][0]["channel_label"] == "Telegram"
    agent.act(conversation.id, "claim")
    assert agent.act(conversation.id, "messages", {"text": "您好，我是小王"}).status_code == 200
    agent.act(conversation.id, "resolve")
    assert [sender for sender, _ in delivered] == ["system", "agent", "bot"]
    assert delivered[1][1] == "您好，我是小王" and "打个分" in delivered[2][1]


def test_a_gateway_talk_to_a_person_button_queues_the_customer_without_rasa(client):
    Agent(client, "agent1")
    customer = Customer(client, "demo-zhangsan")
    conversation = client.portal.call(
        lambda: client.app.state.chat.store.open_conversation(channel="web", external_id="c:demo-zhangsan", customer_id="demo-zhangsan")
    )
    offer = client.portal.call(
        lambda: client.app.state.chat.append(
            conversation, sender="system", text="抱歉，系统开小差了。", buttons=[{"title": "转人工", "payload": "@handoff:bot_unavailable"}]
        )
    )
    reply = customer.click(offer.public(), "转人工")["messages"][-1]
    assert reply["text"].startswith("正在为您转接人工客服") and client.rasa.messages == []
    assert Agent(client, "agent2").get("/api/agent/queue").json()["waiting"][0]["reason"] == "bot_unavailable"


def test_a_tickets_callback_number_is_in_clear_on_the_ticket_and_masked_everywhere_else(client):
    customer = Customer(client, "demo-zhangsan")
    offer = customer.asks_for_a_human()["messages"][-1]
    customer.click(offer, "我要留言")
    customer.say("钱被扣了，请回电 +86 138-1234-5678")
    agent = Agent(client, "agent1")
    [ticket] = agent.get("/api/agent/tickets").json()["tickets"]
    assert ticket["callback"] == "13812345678"
    assert ticket["text"] == "钱被扣了，请回电 +86 138****5678"
    transcript = agent.get(f"/api/agent/conversations/{ticket['conversation_id']}").json()
    assert "13812345678" not in str(transcript) and "1234-5678" not in str(transcript)
    assert "1234-5678" not in str(customer.history())
