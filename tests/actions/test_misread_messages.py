"""Messages the model put under the wrong label, read right by the action that got them."""

from __future__ import annotations

from actions.account import ActionCheckBalance
from actions.actions import ActionOutOfScope, ActionRequestHuman, ActionResolveOffer
from bot import phrases
from tests.actions.conftest import Conversation


def test_a_payee_and_an_unclear_amount_taken_for_out_of_scope_ask_which_amount(ledger):
    lisi = Conversation("demo-lisi")
    lisi.run(ActionOutOfScope(), "张三请我吃了碗面 转他十几块", "out_of_scope")
    assert lisi.text.startswith(phrases.say("amount_which")[:8]), lisi.text
    assert lisi.slots.get("transfer_step") == "amount" and not lisi.slots.get("draft_id")


def test_a_takeaway_question_taken_for_a_balance_question_lists_the_takeaways(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionCheckBalance(), "帮我看看今天中午那笔外卖扣了多少", "check_balance")
    assert "外卖" in zhangsan.text and "当前余额" not in zhangsan.text, zhangsan.text


def test_a_balance_question_that_names_the_balance_is_still_the_balance(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionCheckBalance(), "余额还剩多少，最近一笔花了多少", "check_balance")
    assert "¥12,345.67" in zhangsan.text


def test_the_one_before_the_latest_after_a_history_answer_is_history_not_a_request_for_a_person(ledger):
    zhangsan = Conversation("demo-zhangsan", slots={"last_topic": "history"})
    zhangsan.run(ActionRequestHuman(), "那前一笔呢", "request_human")
    assert zhangsan.text.startswith(phrases.say("previous_transaction", line="")[:6]), zhangsan.text
    assert not any((m.get("custom") or {}).get("type") == "handoff" for m in zhangsan.replies)


def test_still_failing_after_an_answer_offers_a_person_even_when_read_as_no(ledger):
    zhangsan = Conversation("demo-zhangsan", slots={"last_faq_id": "pf_general", "pending_offer": "human"})
    zhangsan.run(ActionResolveOffer(), "试了还是不行", "deny")
    assert zhangsan.text == phrases.say("still_failing")
    assert any("人工" in b["title"] for m in zhangsan.replies for b in m.get("buttons") or [])


def test_a_history_question_beside_a_pending_summary_is_answered_and_the_summary_stays(ledger):
    from actions.transfer import ActionTransfer

    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给李四转八百", "transfer_money")
    draft_id = zhangsan.slots["draft_id"]
    zhangsan.run(ActionTransfer(), "最近一笔", "inform")
    assert zhangsan.text.startswith(phrases.say("latest_transaction", line="")[:6]), zhangsan.text
    assert zhangsan.slots["draft_id"] == draft_id and zhangsan.slots.get("pending_offer") == "transfer"


def test_the_same_question_about_another_kind_right_after_an_answer_is_answered_when_the_model_is_unsure(ledger):
    """"那跨境的呢" right after the fee answer: the cross-border fee, not a list of guesses."""
    from actions.actions import ActionAnswerFaq, ActionHandleFallback
    from bot.knowledge import get_knowledge_base

    visitor = Conversation(None)
    visitor.run(ActionAnswerFaq(), "用钱包要收什么费", "ask_fees")
    visitor.run(ActionHandleFallback(), "那跨境的呢", "nlu_fallback")
    assert visitor.slots.get("last_faq_id") == "fee_cross_border"
    assert get_knowledge_base().get("fee_cross_border").answer in visitor.text
