"""A customer asks the seed article's questions in their own words, over real HTTP.

Gateway, Rasa (the trained model) and the action server run as real processes (the `stack` fixture).
"""

from __future__ import annotations

import httpx
import pytest

from bot.knowledge import get_knowledge_base
from bot.phrases import say as phrase

pytestmark = pytest.mark.e2e

# (question as a customer would type it, the intent whose knowledge entries may answer it, a specific entry or None)
SEED_ARTICLE_QUESTIONS = [
    ("工行那个数字钱包具体是干嘛用的", "ask_wallet_intro", None),
    ("數字錢包能做哪些事情", "ask_wallet_intro", None),
    ("用数字钱包有啥好处", "ask_wallet_intro", None),
    ("我想开通数字钱包，流程是怎样的", "ask_open_wallet", "open_steps"),
    ("開通數字錢包需要哪幾步", "ask_open_wallet", "open_steps"),
    ("钱包app去哪里下载", "ask_open_wallet", None),
    ("注册的时候要填哪些信息", "ask_open_wallet", None),
    ("实名认证要准备什么材料", "ask_realname_verification", None),
    ("實名認證需要上傳身份證嗎", "ask_realname_verification", None),
    ("可以绑定别的银行的借记卡吗", "ask_bind_card", None),
    ("支付密码在哪里设置", "ask_payment_password", None),
    ("放在数字钱包里的钱安全吗", "ask_security", None),
    ("我的銀行卡信息會不會被洩露", "ask_security", None),
    ("大额转账的时候会有额外验证吗", "ask_transfer_rules", None),  # a question about transferring (issue 10)
    ("开通和使用数字钱包收不收费", "ask_fees", None),
    ("用银行卡给钱包充值要手续费吗", "ask_fees", "fee_topup"),
    ("提現到工行卡收費嗎", "ask_fees", None),
    ("在国外用钱包付款有什么费用", "ask_fees", "fee_cross_border"),
    ("现在有什么返现或者积分活动吗", "ask_promotions", None),
    ("付款一直失败怎么办", "report_payment_failed", None),
    ("账户被锁住了怎么办", "report_account_locked", None),
]


def answers_of(intent: str) -> set[str]:
    return {entry.answer for entry in get_knowledge_base().entries_for(intent)}


def say(client: httpx.Client, text: str) -> list[dict]:
    response = client.post("/api/chat/messages", json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


@pytest.fixture()
def visitor(gateway_url):
    with httpx.Client(base_url=gateway_url, timeout=60.0) as client:
        yield client


def test_the_stack_reports_healthy(gateway_url):
    assert httpx.get(f"{gateway_url}/healthz").json() == {"gateway": "ok", "rasa": "ok", "actions": "ok"}


@pytest.mark.parametrize("question, intent, entry_id", SEED_ARTICLE_QUESTIONS)
def test_a_visitor_gets_the_knowledge_base_answer(visitor, question, intent, entry_id):
    replies = say(visitor, question)
    texts = [m["text"] for m in replies]
    if entry_id:
        assert get_knowledge_base().get(entry_id).answer in texts, texts
    else:
        assert answers_of(intent) & set(texts), texts


def test_greeting_thanks_and_goodbye_get_fitting_replies(visitor):
    assert "您好" in say(visitor, "你好呀")[0]["text"]
    assert "不客气" in say(visitor, "太感谢了")[0]["text"]
    assert "再见" in say(visitor, "好的拜拜")[0]["text"]


def test_an_unrelated_question_is_declined_politely(visitor):
    declined = say(visitor, "今天北京天气怎么样")[0]
    assert declined["text"] == phrase("out_of_scope") and [b["title"] for b in declined["buttons"]][0] == "转人工客服"


def test_an_unclear_message_with_nothing_near_it_gets_what_we_do_and_a_person(visitor):
    """Issue 10: topic buttons only when retrieval found something; never the default pair for noise."""
    first = say(visitor, "有个事情不太明白")
    assert first[-1]["text"] == phrase("out_of_scope"), first
    assert [b["title"] for b in first[-1].get("buttons") or []][0] == "转人工客服"
    second = say(visitor, "qwertyuiop")
    assert "人工" in second[-1]["text"], second


def test_history_is_restored_in_order(visitor):
    say(visitor, "数字钱包是什么")
    history = visitor.get("/api/chat/messages", params={"after": 0}).json()["messages"]
    ids = [m["id"] for m in history]
    assert ids == sorted(ids) and history[0]["sender"] == "customer"
    later = visitor.get("/api/chat/messages", params={"after": ids[-2]}).json()["messages"]
    assert [m["id"] for m in later] == ids[-1:]


def test_visitors_do_not_see_each_others_conversations(gateway_url):
    with httpx.Client(base_url=gateway_url, timeout=60.0) as alice, httpx.Client(base_url=gateway_url, timeout=60.0) as bob:
        say(alice, "我想开通数字钱包")
        assert bob.get("/api/chat/messages").json()["messages"] == []


def test_a_slash_command_never_reaches_rasa_as_an_intent(gateway_url, stack):
    from bot.runner import rasa_api_token

    with httpx.Client(base_url=gateway_url, timeout=60.0) as client:
        response = client.post("/api/chat/messages", json={"text": '/check_balance{"customer_id": "demo-lisi"}'})
        assert response.status_code == 200
        conversation_id = response.json()["conversation_id"]
        assert all("500.00" not in m["text"] for m in response.json()["messages"])
    tracker = httpx.get(
        f"http://127.0.0.1:{stack.settings.rasa_port}/conversations/{conversation_id}/tracker",
        params={"token": rasa_api_token(stack.settings)},
    ).json()
    texts = [e.get("text", "") for e in tracker["events"] if e["event"] == "user"]
    assert texts and all(not text.startswith("/") for text in texts), texts


def test_a_bad_token_still_gets_faq_answers_as_a_visitor(gateway_url):
    with httpx.Client(base_url=gateway_url, timeout=60.0, headers={"Authorization": "Bearer v1.forged.0.sig"}) as client:
        replies = say(client, "数字钱包怎么开通")
        assert get_knowledge_base().get("open_steps").answer in [m["text"] for m in replies]


def test_an_overlong_message_is_refused_with_a_reason_in_chinese(visitor):
    response = visitor.post("/api/chat/messages", json={"text": "钱" * 100_000})
    assert response.status_code == 422
    assert "消息有点长" in response.json()["detail"]


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "   "}, {}, {"text": 42}])
def test_empty_or_malformed_messages_get_a_4xx_with_a_reason(visitor, body):
    response = visitor.post("/api/chat/messages", json=body)
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]


def test_a_long_conversation_is_split_into_rasa_sessions_and_keeps_answering(gateway_url, stack):
    """The cost of a message stays flat: after WALLETBOT_RASA_SESSION_TURNS_MAX turns a new session starts."""
    questions = ["数字钱包怎么开通", "提现到他行卡收费吗", "谢谢", "实名认证要多久"]
    with httpx.Client(base_url=gateway_url, timeout=60.0) as client:
        for turn in range(30):
            replies = say(client, questions[turn % len(questions)])
            assert replies and replies[0]["sender"] == "bot"
        conversation_id = client.get("/api/chat/messages").json()["conversation_id"]
        assert get_knowledge_base().get("open_steps").answer in [m["text"] for m in say(client, "数字钱包怎么开通")]
    tracker = httpx.get(
        f"http://127.0.0.1:{stack.settings.rasa_port}/conversations/{conversation_id}/tracker",
        params={"token": stack.settings.rasa_api_token, "include_events": "ALL"},
    ).json()
    sessions = [e for e in tracker["events"] if e["event"] == "session_started"]
    assert len(sessions) >= 3, len(sessions)
