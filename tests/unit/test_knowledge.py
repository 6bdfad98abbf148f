"""The knowledge base answers the seed article's questions, in paraphrase, from one file."""

import pytest
import yaml

from bot.knowledge import KnowledgeBase, KnowledgeFileInvalid, get_knowledge_base
from bot.settings import ROOT

CONTRACT_FAQ_INTENTS = {
    "ask_wallet_intro", "ask_open_wallet", "ask_realname_verification", "ask_bind_card",
    "ask_payment_password", "ask_fees", "ask_security", "ask_promotions", "ask_topup_withdraw",
    "report_payment_failed", "report_account_locked", "report_fraud", "complain", "request_human",
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return get_knowledge_base()


def test_every_faq_intent_has_an_answer(kb):
    assert CONTRACT_FAQ_INTENTS <= kb.intents()


def test_answers_are_not_copied_into_the_domain():
    domain = (ROOT / "domain.yml").read_text(encoding="utf-8")
    for entry in get_knowledge_base().entries:
        assert entry.answer[:20] not in domain


@pytest.mark.parametrize(
    "fee_type, words",
    [("topup", "充值"), ("withdraw", "提现"), ("cross_border", "汇率"), ("open", "免费")],
)
def test_a_fee_question_is_answered_by_its_fee_type(kb, fee_type, words):
    hit = kb.lookup("要收费吗", intent="ask_fees", entities={"fee_type": fee_type})
    assert hit.entry.fee_type == fee_type
    assert words in hit.answer


@pytest.mark.parametrize(
    "question, fee_type",
    [("提现到其他银行的卡要钱吗", "withdraw"), ("境外刷卡的汇率和手续费谁出", "cross_border"), ("用银行卡充值扣手续费吗", "topup")],
)
def test_without_an_entity_the_closest_fee_entry_is_chosen(kb, question, fee_type):
    assert kb.lookup(question, intent="ask_fees").entry.fee_type == fee_type


@pytest.mark.parametrize(
    "question, intent",
    [
        ("数字钱包怎么开通", "ask_open_wallet"),
        ("實名認證要上傳身份證照片嗎", "ask_realname_verification"),
        ("可以绑别的银行的借记卡吗", "ask_bind_card"),
        ("支付密码忘了怎么办", "ask_payment_password"),
        ("数字钱包安全吗", "ask_security"),
        ("有什么返现和积分活动", "ask_promotions"),
        ("付款失败钱却扣了", "report_payment_failed"),
        ("账户被锁了怎么解锁", "report_account_locked"),
    ],
)
def test_retrieval_over_all_questions_finds_the_topic(kb, question, intent):
    assert kb.search(question)[0].entry.intent == intent


def test_search_offers_distinct_topics(kb):
    hits = kb.search("钱包", limit=2)
    assert len({hit.entry.intent for hit in hits}) == 2


def test_gibberish_scores_low(kb):
    assert kb.search("阿巴阿巴咕噜咕噜")[0].score < 0.5


def test_a_broken_knowledge_file_is_refused_with_its_reason(tmp_path):
    bad = tmp_path / "faq.yml"
    bad.write_text(yaml.safe_dump({"entries": [{"id": "x", "intent": "ask_fees", "title": "t"}]}), encoding="utf-8")
    with pytest.raises(KnowledgeFileInvalid, match="lacks"):
        KnowledgeBase.from_file(bad)
