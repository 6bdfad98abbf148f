"""Money conversations over real HTTP through the gateway, Rasa, the action server and the ledger."""

from __future__ import annotations

import re

import httpx
import pytest

from bot.db import make_engine, make_session_factory
from bot.identity import issue_app_token
from bot.wallet import SqlAlchemyUnitOfWork, get_balance, sms_outbox, total_balance_fen, unlock_wallet

pytestmark = pytest.mark.e2e


class Customer:
    def __init__(self, gateway_url: str, secret: str, customer_id: str) -> None:
        token = issue_app_token(secret, customer_id)
        self.http = httpx.Client(base_url=gateway_url, timeout=60.0, headers={"Authorization": f"Bearer {token}"})

    def say(self, text: str) -> list[dict]:
        response = self.http.post("/api/chat/messages", json={"text": text})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def click(self, messages: list[dict], title: str) -> list[dict]:
        holder = next(m for m in reversed(messages) if any(b["title"] == title for b in m.get("buttons", [])))
        button = next(b for b in holder["buttons"] if b["title"] == title)
        response = self.http.post("/api/chat/messages", json={"button": {"message_id": holder["id"], "id": button["id"]}})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def secret(self, kind: str, value: str) -> httpx.Response:
        return self.http.post("/api/chat/pin", json={kind: value})


def texts(messages: list[dict]) -> str:
    return "\n".join(m["text"] for m in messages)


def asks_for(messages: list[dict], kind: str) -> bool:
    return any((m.get("custom") or {}).get("type") == "pin_request" and m["custom"]["kind"] == kind for m in messages)


@pytest.fixture(scope="module")
def uow_factory(stack):
    factory = make_session_factory(make_engine(stack.settings.database_url))
    return lambda: SqlAlchemyUnitOfWork(factory, settings=stack.settings)


def balance_fen(uow_factory, customer_id: str) -> int:
    return get_balance(uow_factory(), customer_id).balance_fen


def test_a_customer_checks_the_balance(gateway_url, stack):
    replies = Customer(gateway_url, stack.settings.secret, "demo-lisi").say("我还有多少钱")
    assert "¥" in texts(replies) and "余额" in texts(replies)


def test_a_customer_asks_what_they_spent_last_month(gateway_url, stack):
    replies = Customer(gateway_url, stack.settings.secret, "demo-zhangsan").say("上个月花了多少钱")
    assert re.search(r"\d{4}年\d{1,2}月共 \d+ 笔交易，支出 ¥", texts(replies)), texts(replies)


def test_a_visitor_without_identity_is_told_how_to_sign_in(gateway_url):
    replies = httpx.post(f"{gateway_url}/api/chat/messages", json={"text": "查一下我的余额"}, timeout=60).json()["messages"]
    assert "确认您的身份" in texts(replies) and "¥" not in texts(replies)


def test_nobody_reads_another_customers_balance_by_naming_them(gateway_url, stack, uow_factory):
    lisi = Customer(gateway_url, stack.settings.secret, "demo-lisi")
    zhangsan_balance = f"{balance_fen(uow_factory, 'demo-zhangsan') / 100:,.2f}"
    for attempt in ("查一下张三的余额", "demo-zhangsan的余额是多少", '/check_balance{"customer_id": "demo-zhangsan"}'):
        assert zhangsan_balance not in texts(lisi.say(attempt))


def test_a_transfer_with_the_pin_moves_the_money_once(gateway_url, stack, uow_factory):
    zhangsan = Customer(gateway_url, stack.settings.secret, "demo-zhangsan")
    total_before = total_balance_fen(uow_factory())
    before = balance_fen(uow_factory, "demo-zhangsan"), balance_fen(uow_factory, "demo-lisi")
    summary = zhangsan.say("给李四转五百块")
    assert "¥500.00" in texts(summary) and "确认转账" in [b["title"] for m in summary for b in m.get("buttons", [])]
    assert asks_for(zhangsan.click(summary, "确认转账"), "pin")
    receipt = zhangsan.secret("pin", "246810")
    assert receipt.status_code == 200 and "转账成功" in texts(receipt.json()["messages"])
    assert zhangsan.secret("pin", "246810").status_code == 409  # nothing more is waiting for a PIN
    after = balance_fen(uow_factory, "demo-zhangsan"), balance_fen(uow_factory, "demo-lisi")
    assert after == (before[0] - 50_000, before[1] + 50_000)
    assert total_balance_fen(uow_factory()) == total_before
    history = zhangsan.http.get("/api/chat/messages").json()["messages"]
    assert all("246810" not in m["text"] for m in history)


def test_a_large_transfer_needs_the_pin_and_the_sms_code(gateway_url, stack, uow_factory):
    zhangsan = Customer(gateway_url, stack.settings.secret, "demo-zhangsan")
    before = balance_fen(uow_factory, "demo-zhangsan")
    summary = zhangsan.say("给王五转6000元")
    assert "短信验证码" in texts(summary)
    zhangsan.click(summary, "确认转账")
    after_pin = zhangsan.secret("pin", "246810").json()["messages"]
    assert asks_for(after_pin, "otp") and balance_fen(uow_factory, "demo-zhangsan") == before
    code = re.search(r"验证码 (\d{6})", sms_outbox(uow_factory(), limit=1)[0].text).group(1)
    wrong = "000000" if code != "000000" else "111111"
    assert "验证码不正确" in texts(zhangsan.secret("otp", wrong).json()["messages"])
    done = zhangsan.secret("otp", code).json()["messages"]
    assert "转账成功" in texts(done)
    assert balance_fen(uow_factory, "demo-zhangsan") == before - 600_000


def test_five_wrong_pins_lock_the_wallet(gateway_url, stack, uow_factory):
    wangwu_id = "demo-lisi"
    lisi = Customer(gateway_url, stack.settings.secret, wangwu_id)
    lisi.click(lisi.say("给张三转10块"), "确认转账")
    replies: list[dict] = []
    for _ in range(5):
        replies = lisi.secret("pin", "000000").json()["messages"]
    assert "锁定" in texts(replies), texts(replies)
    assert get_balance(uow_factory(), wangwu_id).status == "locked"
    assert "锁定" in texts(lisi.say("我的钱包是不是被锁了"))
    unlock_wallet(uow_factory(), customer_id=wangwu_id, actor="test")


def test_cancel_in_the_middle_of_a_transfer_moves_nothing(gateway_url, stack, uow_factory):
    zhangsan = Customer(gateway_url, stack.settings.secret, "demo-zhangsan")
    before = balance_fen(uow_factory, "demo-zhangsan")
    assert "转给谁" in texts(zhangsan.say("我要转账"))
    assert "多少" in texts(zhangsan.say("李四"))
    assert "取消" in texts(zhangsan.say("算了不转了"))
    assert "¥" not in texts(zhangsan.say("200"))  # the form is gone: a bare amount no longer continues it
    assert balance_fen(uow_factory, "demo-zhangsan") == before


def test_an_faq_question_in_the_middle_of_a_transfer_is_answered_and_the_transfer_resumes(gateway_url, stack):
    zhangsan = Customer(gateway_url, stack.settings.secret, "demo-zhangsan")
    assert "转给谁" in texts(zhangsan.say("帮我转一笔钱"))
    digression = zhangsan.say("转账要手续费吗")
    assert "转给谁" in texts(digression) and len(digression) >= 2
    zhangsan.say("李四")
    summary = zhangsan.say("300块")
    assert "¥300.00" in texts(summary)
    zhangsan.click(summary, "取消")
