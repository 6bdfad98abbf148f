"""Issue 12.8, the small ones: Last-Event-ID, racing PINs, cookie-less readers, agent sign-in and bind-code
throttles, the chat page's headers, and security events counted where operators look.

The gateway on a real SQLite database, signed in as 张三 unless a test says otherwise; Rasa is scripted.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.binding import BindAttemptsExceeded, BindCodeInvalid, Binder
from bot.gateway.rasa_client import RasaClient
from bot.handoff.agents import seed_demo_agents
from bot.handoff.models import Conversation
from bot.phrases import say
from bot.wallet.models import Transfer
from tests.conftest import free_port
from tests.security.conftest import ZHANGSAN_PIN, ScriptedRasa
from tests.security.test_pin_pays_what_was_shown import balance_fen, draft_to_lisi, pin_request, say_text, summary_reply

ZHANGSAN_BALANCE_FEN = 1_234_567


def conversation_rows(client) -> int:
    with client.sessions() as session:
        return session.scalar(select(func.count()).select_from(Conversation))


def as_visitor(client) -> None:
    client.headers.pop("Authorization", None)
    client.cookies.clear()


def pin_awaited_for(client, amount_fen: int) -> str:
    draft = draft_to_lisi(client, amount_fen)
    client.rasa.replies.append(summary_reply(draft.draft_id))
    say_text(client, "给李四转100块")
    client.rasa.replies.append(pin_request(draft.draft_id, "向 李四 转账 ¥100.00"))
    assert (say_text(client, "确认")[-1].get("custom") or {}).get("type") == "pin_request"
    return draft.draft_id


# ── Last-Event-ID ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("value", ["²".encode("latin-1"), "١٢".encode(), "12a", "-1", "+7", "9223372036854775808", "9" * 40])
def test_a_last_event_id_that_is_not_a_row_id_is_a_400_with_a_reason_not_a_500(client, value):
    with client.stream("GET", "/api/chat/events", headers={"Last-Event-ID": value}) as response:
        assert response.status_code == 400  # (a stream that opened anyway is closed here, not read)
        assert json.loads(response.read())["detail"] == say("bad_last_event_id")


# ── racing PIN submissions ─────────────────────────────────────────────────────────────────────


def test_twenty_racing_pin_submissions_pay_once_and_nobody_hears_of_an_interruption(client):
    draft_id = pin_awaited_for(client, 10_000)

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: client.post("/api/chat/pin", json={"pin": ZHANGSAN_PIN}), range(20)))

    texts = [m["text"] for a in answers if a.status_code == 200 for m in a.json()["messages"]]
    assert not [t for t in texts if "系统中断" in t]
    assert sorted(a.status_code for a in answers) == [200] + [409] * 19
    assert len([t for t in texts if t.startswith(say("transfer_done", recipient="@", amount="@", balance="@", reference="@").split("@")[0])]) == 1
    assert balance_fen(client, "demo-zhangsan") == ZHANGSAN_BALANCE_FEN - 10_000
    with client.sessions() as session:
        assert session.get(Transfer, draft_id) is not None


def test_a_pin_typed_into_the_chat_while_the_keypad_answers_is_not_mistaken_for_an_interruption(client):
    pin_awaited_for(client, 10_000)

    with ThreadPoolExecutor(2) as pool:
        keypad = pool.submit(client.post, "/api/chat/pin", json={"pin": ZHANGSAN_PIN})
        typed = pool.submit(client.post, "/api/chat/messages", json={"text": ZHANGSAN_PIN})
        answers = [keypad.result(), typed.result()]

    texts = [m["text"] for a in answers if a.status_code == 200 for m in a.json().get("messages", [])]
    assert not [t for t in texts if "系统中断" in t]
    assert balance_fen(client, "demo-zhangsan") == ZHANGSAN_BALANCE_FEN - 10_000


# ── cookie-less requests ───────────────────────────────────────────────────────────────────────


def test_cookie_less_visitors_reading_the_chat_create_no_conversation_rows(client):
    as_visitor(client)
    before = conversation_rows(client)
    for _ in range(10):
        client.cookies.clear()
        read = client.get("/api/chat/messages")
        assert read.status_code == 200 and read.json()["messages"] == [] and read.json()["state"] == "bot"
        client.cookies.clear()
        assert client.post("/api/chat/pin", json={"pin": "135790"}).status_code == 409
        client.cookies.clear()
        assert client.post("/api/chat/otp/resend").status_code == 409
    assert conversation_rows(client) == before

    say_text(client, "你好")  # the first message a visitor sends opens the conversation
    assert conversation_rows(client) == before + 1
    assert [m["sender"] for m in client.get("/api/chat/messages").json()["messages"]] == ["customer", "bot"]
    assert conversation_rows(client) == before + 1


@contextmanager
def serving(app):
    """The app served by uvicorn on a free port in a thread (Server-Sent Events need a real server)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the gateway did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_visitors_event_stream_opened_before_the_first_message_receives_the_conversation(client):
    app = client.app
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as visitor:
        rasa = ScriptedRasa()
        rasa.replies.append([{"text": "您好，请问有什么可以帮您？"}])
        app.state.chat.rasa = RasaClient(
            "http://rasa.test", timeout_s=5, channel_key=client.settings.rasa_channel_key, transport=httpx.MockTransport(rasa.handler)
        )
        visitor.get("/api/chat/messages")  # the page loads its history first: no conversation yet, a cookie
        before = conversation_rows(client)
        events: list[str] = []
        with visitor.stream("GET", "/api/chat/events") as stream:
            lines = stream.iter_lines()
            while "event: state" not in events:
                events.append(next(lines))
            assert conversation_rows(client) == before
            assert visitor.post("/api/chat/messages", json={"text": "你好"}).status_code == 200
            while "您好，请问有什么可以帮您？" not in events[-1] and len(events) < 100:
                events.append(next(lines))
    data = "\n".join(events)
    assert "你好" in data and "您好，请问有什么可以帮您？" in data


# ── the chat page ──────────────────────────────────────────────────────────────────────────────


def test_the_chat_page_forbids_framing_and_foreign_scripts_like_the_console(client):
    for path in ("/", "/console/"):
        headers = client.get(path).headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        policy = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "default-src 'self'" in policy, path


# ── agent sign-in ──────────────────────────────────────────────────────────────────────────────


def sign_in(client, username: str, password: str) -> httpx.Response:
    return client.post("/api/agent/login", json={"username": username, "password": password})


def answer(response: httpx.Response) -> tuple:
    """What a caller can tell from a refusal, the clock time in it aside."""
    return response.status_code, re.sub(r"\d{1,2}:\d{2}", "HH:MM", response.json()["detail"]), "retry-after" in response.headers


def test_an_unknown_account_is_answered_exactly_as_a_real_one_that_locks(client):
    seed_demo_agents(client.sessions, client.settings)
    attempts = client.settings.agent_login_attempts_max + 2

    real = [answer(sign_in(client, "agent1", "wrong-password")) for _ in range(attempts)]
    unknown = [answer(sign_in(client, "agent-nobody", "wrong-password")) for _ in range(attempts)]

    assert real == unknown
    assert real[0][0] == 401 and real[-1][0] == 429
    assert sign_in(client, "agent1", "agent1-pass").status_code == 429  # locked: even the right password waits


@pytest.mark.parametrize("client", [{"WALLETBOT_AGENT_LOGIN_IP_FAILURES_MAX": "8"}], indirect=True)
def test_failed_sign_ins_from_one_ip_are_throttled_across_accounts(client):
    seed_demo_agents(client.sessions, client.settings)
    for n in range(8):  # one guess per account: no account lockout ever triggers
        assert sign_in(client, f"guess{n}", "wrong-password").status_code == 401

    throttled = sign_in(client, "agent1", "agent1-pass")

    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert throttled.json()["detail"].startswith(say("console_ip_throttled", until="|").split("|")[0])
    elsewhere = TestClient(client.app, client=("198.51.100.7", 40000))
    assert sign_in(elsewhere, "agent1", "agent1-pass").status_code == 200
    assert client.app.state.chat.security_events.count("login_throttled") >= 1


# ── bind codes ─────────────────────────────────────────────────────────────────────────────────


def test_wrong_bind_codes_are_limited_across_every_chat_not_only_per_chat(client):
    binder = Binder(client.sessions, client.settings.secret, failures_per_hour_max=10)
    issued = binder.issue_code("demo-zhangsan")
    wrong = f"{(int(issued.code) + 1) % 1_000_000:06d}"
    for n in range(10):  # ten chats, one guess each: each chat is far below its own limit
        with pytest.raises(BindCodeInvalid):
            binder.redeem("telegram", f"attacker-{n}", wrong)

    with pytest.raises(BindAttemptsExceeded):
        binder.redeem("wechat", "o-attacker-11", wrong)
    with pytest.raises(BindAttemptsExceeded):  # the right code too: a pause must not tell which guess was right
        binder.redeem("wechat", "o-attacker-12", issued.code)


def test_the_global_bind_limit_is_a_setting_the_channels_use(client):
    assert client.settings.bind_failures_per_hour_max == 50


# ── security events ────────────────────────────────────────────────────────────────────────────


def test_a_withheld_secret_and_a_pin_for_an_unseen_draft_are_counted_and_published(client):
    events = client.app.state.chat.security_events
    say_text(client, "我的支付密码是246810")
    shown = draft_to_lisi(client, 10_000)
    client.rasa.replies.append(summary_reply(shown.draft_id))
    say_text(client, "给李四转100块")
    planted = draft_to_lisi(client, 499_900)
    client.rasa.replies.append(pin_request(planted.draft_id, "向 李四 转账 ¥100.00"))
    say_text(client, "确认")

    assert events.count("secret_withheld", channel="web") == 1
    assert events.count("draft_not_shown", channel="web") == 1
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'walletbot_security_events_total{kind="secret_withheld",channel="web"} 1' in metrics.text
    assert 'walletbot_security_events_total{kind="replay",channel=""} 0' in metrics.text


def test_metrics_answer_only_the_loopback(client):
    outsider = TestClient(client.app, client=("203.0.113.9", 40000))
    assert outsider.get("/metrics").status_code == 404
