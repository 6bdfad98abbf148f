"""The knowledge base answers the seed article's questions, in paraphrase, from one file."""

import pytest
import yaml

from bot.knowledge import (
    FAQ_FILE,
    EntryIntentUnknown,
    EntryTooFewQuestions,
    KnowledgeBase,
    KnowledgeFileInvalid,
    domain_intents,
    get_knowledge_base,
)
from bot.settings import ROOT, load_settings

CONTRACT_FAQ_INTENTS = {
    "ask_wallet_intro", "ask_open_wallet", "ask_realname_verification", "ask_bind_card",
    "ask_payment_password", "ask_fees", "ask_security", "ask_promotions", "ask_topup_withdraw",
    "ask_transfer_rules", "report_payment_failed", "report_account_locked", "report_fraud", "complain",
    "request_human",
}
SIX_QUESTIONS = ["问一", "问二", "问三", "问四", "问五", "问六"]


def settings_with(**env: str):
    return load_settings({"WALLETBOT_SECRET": "unit-test-secret-of-at-least-32-chars", **env})


def write_faq(tmp_path, *entries: dict):
    path = tmp_path / "faq.yml"
    path.write_text(yaml.safe_dump({"version": 1, "entries": list(entries)}, allow_unicode=True), encoding="utf-8")
    return path


def entry(**fields) -> dict:
    return {"id": "x", "intent": "ask_fees", "title": "标题", "answer": "答案", "questions": SIX_QUESTIONS, **fields}


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


# -- load-time checks ------------------------------------------------------------------------------


def test_an_entry_for_an_intent_the_domain_does_not_declare_is_refused_by_name(tmp_path):
    path = write_faq(tmp_path, entry(id="ghost", intent="ask_weather"))
    with pytest.raises(EntryIntentUnknown, match="'ghost'.*'ask_weather'") as caught:
        KnowledgeBase.from_file(path)
    assert caught.value.entry_id == "ghost"


def test_an_entry_with_fewer_than_six_questions_is_refused_by_name(tmp_path):
    path = write_faq(tmp_path, entry(id="thin", questions=SIX_QUESTIONS[:5]))
    with pytest.raises(EntryTooFewQuestions, match="'thin' has 5 questions") as caught:
        KnowledgeBase.from_file(path)
    assert caught.value.count == 5


def test_blank_questions_do_not_count_towards_the_six(tmp_path):
    path = write_faq(tmp_path, entry(questions=[*SIX_QUESTIONS[:5], "  "]))
    with pytest.raises(EntryTooFewQuestions):
        KnowledgeBase.from_file(path)


def test_an_entry_with_six_questions_and_a_declared_intent_loads(tmp_path):
    kb = KnowledgeBase.from_file(write_faq(tmp_path, entry()))
    assert [e.id for e in kb.entries] == ["x"]


def test_every_intent_of_the_knowledge_base_is_declared_in_the_domain(kb):
    assert kb.intents() <= domain_intents()


def test_an_unknown_placeholder_is_refused_by_name(tmp_path):
    path = write_faq(tmp_path, entry(id="typo", answer="单笔最多{transfer_limt}"))
    with pytest.raises(KnowledgeFileInvalid, match="'typo'.*transfer_limt"):
        KnowledgeBase.from_file(path)


def test_steps_must_name_entries_that_exist(tmp_path):
    path = write_faq(tmp_path, entry(steps=["x", "nowhere"]))
    with pytest.raises(KnowledgeFileInvalid, match="nowhere"):
        KnowledgeBase.from_file(path)


# -- answers are rendered from the settings --------------------------------------------------------


def test_limits_and_hours_in_answers_follow_the_settings():
    kb = KnowledgeBase.from_file(
        FAQ_FILE,
        settings=settings_with(
            WALLETBOT_TRANSFER_LIMIT_FEN="1234500",
            WALLETBOT_DAILY_LIMIT_FEN="9900000",
            WALLETBOT_OTP_THRESHOLD_FEN="88800",
            WALLETBOT_PIN_ATTEMPTS_MAX="3",
            WALLETBOT_BUSINESS_HOURS="08:30-24:00",
        ),
    )
    limits = kb.get("transfer_limits").answer
    assert "¥12,345.00" in limits and "¥99,000.00" in limits and "¥888.00" in limits
    assert "¥50,000" not in limits and "¥200,000" not in limits
    assert "3次" in kb.get("locked_password").answer
    assert "08:30–24:00" in kb.get("human_hours").answer


def test_the_default_settings_give_the_contract_figures(kb):
    limits = kb.get("transfer_limits").answer
    assert "¥50,000.00" in limits and "¥200,000.00" in limits and "¥5,000.00" in limits
    assert "5次" in kb.get("locked_general").answer
    assert "09:00–21:00" in kb.get("human_hours").answer


def test_callers_read_rendered_answers_and_the_template_is_kept_for_the_audit(kb):
    for e in kb.entries:
        assert "{" not in e.answer and "}" not in e.answer, e.id
    entry = kb.get("transfer_limits")
    assert "{transfer_limit}" in entry.template
    hit = kb.lookup("一次最多能转多少钱", intent="ask_transfer_rules")
    assert hit.entry.id == "transfer_limits" and hit.answer == entry.answer


def test_an_answer_that_offers_a_person_says_so_without_claiming_a_transfer(kb):
    assert kb.get("open_close").offers_human
    assert not kb.get("fee_open").offers_human
    for e in kb.entries:
        assert "正在为您转接" not in e.answer and "为您转接" not in e.answer, e.id


def test_the_opening_steps_point_at_the_entries_that_explain_them(kb):
    steps = kb.get("open_steps").steps
    assert len(steps) == 6 and kb.get(steps[2]).id == "realname_howto"


# -- the questions customers bring (issue 10 point 3) ----------------------------------------------


@pytest.mark.parametrize(
    "question, intent, entry_id",
    [
        ("单笔最多转多少", "ask_transfer_rules", "transfer_limits"),
        ("转账超过多少要验证码", "ask_transfer_rules", "transfer_sms_code"),
        ("能转到别的银行卡吗", "ask_transfer_rules", "transfer_other_bank"),
        ("转账要多久到", "ask_transfer_rules", "transfer_arrival"),
        ("提示卡号与预留信息不一致", "ask_bind_card", "bind_info_mismatch"),
        ("怎么解绑银行卡", "ask_bind_card", "bind_unbind"),
        ("换手机号了收不到验证码", "ask_security", "security_phone_changed"),
        ("手机丢了怎么办", "ask_security", "security_lost_phone"),
        ("我想把钱包注销了", "ask_open_wallet", "open_close"),
        ("开通的时候提示身份信息不一致", "ask_open_wallet", "open_failed"),
        ("钱付了订单显示未支付", "report_payment_failed", "pf_order_unpaid"),
        ("账单可以导出吗", "ask_wallet_intro", "intro_statement"),
    ],
)
def test_a_field_style_question_finds_its_entry(kb, question, intent, entry_id):
    assert kb.lookup(question, intent=intent).entry.id == entry_id


def test_every_question_variant_finds_its_own_entry_within_its_intent(kb):
    strays = [
        (e.id, q, kb.lookup(q, intent=e.intent).entry.id)
        for e in kb.entries
        for q in e.questions
        if kb.lookup(q, intent=e.intent).entry.id != e.id
    ]
    assert strays == []


def test_the_shared_knowledge_base_follows_the_settings_it_is_loaded_with(monkeypatch):
    from bot import settings

    monkeypatch.setenv("WALLETBOT_BUSINESS_HOURS", "07:00-23:00")
    settings.get_settings.cache_clear()
    try:
        assert "07:00–23:00" in get_knowledge_base().get("human_hours").answer
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()
    assert "07:00–23:00" not in get_knowledge_base().get("human_hours").answer


def test_a_question_read_as_the_wrong_topic_gets_the_entry_its_words_clearly_match(kb):
    """换了号收不到验证码 classified as a locked account: the changed-number entry answers, not a lock reason."""
    assert kb.answer_for("换了新手机号 验证码一直收不到 现在登不进去了", intent="report_account_locked").id == "security_phone_changed"


def test_a_question_of_its_own_topic_keeps_that_topics_entry(kb):
    assert kb.answer_for("支付密码输错太多次被锁了", intent="report_account_locked").id == "locked_password"


def test_a_lost_phone_gets_its_safety_steps_whatever_the_topic(kb):
    assert kb.answer_for("手机被偷了钱包怎么办", intent="ask_fees").id == "security_lost_phone"


def test_no_question_variant_is_answered_from_another_topic_unless_it_is_a_lost_phone(kb):
    strays = [
        (e.id, q, kb.answer_for(q, intent=e.intent).id)
        for e in kb.entries
        for q in e.questions
        if kb.answer_for(q, intent=e.intent).id not in (e.id, "security_lost_phone")
    ]
    assert strays == []
