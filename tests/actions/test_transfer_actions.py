"""The transfer conversation, one action at a time, against the real ledger (no Rasa, no gateway)."""

from __future__ import annotations

import pytest

from actions.history import ActionCheckTransactions
from actions.transfer import ActionCancel
from actions.actions import ActionRequestHuman, ActionResolveOffer
from actions.transfer import ActionTransfer
from bot.db import get_session_factory
from bot.wallet import SqlAlchemyUnitOfWork, get_draft
from tests.actions.conftest import Conversation


def draft_of(conversation: Conversation):
    uow = SqlAlchemyUnitOfWork(get_session_factory(), read_only=True)
    return get_draft(uow, customer_id=conversation.customer_id, draft_id=conversation.slots["draft_id"])


def buttons(conversation: Conversation) -> list[dict]:
    return [b for m in conversation.replies for b in m.get("buttons") or []]


@pytest.mark.parametrize(
    ("message", "amount_fen"),
    [("给李四转一千零五十", 105_000), ("给李四转5块5", 550), ("给李四转十块零五毛", 1_050),
     ("给李四转一万零五百", 1_050_000), ("给李四转两千零八块", 200_800), ("给李四转1千2", 120_000)],
)
def test_the_summary_states_exactly_the_amount_the_customer_wrote(ledger, message, amount_fen):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), message, "transfer_money")
    assert draft_of(zhangsan).amount_fen == amount_fen
    assert zhangsan.slots["pending_offer"] == "transfer"


def test_a_vague_amount_is_asked_about_and_nothing_is_drafted(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给李四转两三百", "transfer_money")
    assert not zhangsan.slots.get("draft_id")
    assert "确切" in zhangsan.text


@pytest.mark.parametrize("message", ["给李四转-5元", "给李四转负五元", "给李四转0元"])
def test_a_negative_or_zero_amount_is_refused(ledger, message):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), message, "transfer_money")
    assert not zhangsan.slots.get("draft_id")
    assert "大于0" in zhangsan.text


def test_an_over_limit_amount_is_refused_not_truncated(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给李四转五万零一块", "transfer_money")
    assert not zhangsan.slots.get("draft_id")
    assert "限额" in zhangsan.text


def test_a_correction_replaces_the_summary_and_the_old_confirm_button_expires(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给李四转500", "transfer_money")
    old_confirm = buttons(zhangsan)[0]["payload"]
    old_id = zhangsan.slots["draft_id"]
    zhangsan.run(ActionTransfer(), "不对，改成300", "inform")
    assert draft_of(zhangsan).amount_fen == 30_000
    assert "已取消原来那笔" in zhangsan.text
    old_draft_id = old_confirm.split('"draft_id": "')[1].rstrip('"}')
    assert old_draft_id == old_id
    zhangsan.run(ActionResolveOffer(), "确认转账", "affirm", [{"entity": "draft_id", "value": old_id}])
    assert "已失效" in zhangsan.text
    assert not any((m.get("custom") or {}).get("type") == "pin_request" for m in zhangsan.replies)


@pytest.mark.parametrize("correction, fen, recipient", [("不对该成150", 15_000, "李四"), ("哎呀不对 换一个人 给小刘", 18_000, "小刘")])
def test_a_no_that_brings_the_new_amount_or_payee_corrects_the_transfer(ledger, correction, fen, recipient):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "李四 180", "transfer_money")
    first = zhangsan.slots["draft_id"]
    zhangsan.run(ActionResolveOffer(), correction, "deny")
    assert zhangsan.slots["draft_id"] != first
    assert draft_of(zhangsan).amount_fen == fen and recipient in draft_of(zhangsan).recipient_display


def test_a_bare_no_to_a_summary_still_cancels_it(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "李四 180", "transfer_money")
    zhangsan.run(ActionResolveOffer(), "不对", "deny")
    assert not zhangsan.slots.get("draft_id") and "已取消" in zhangsan.text


def test_changing_the_recipient_keeps_the_amount(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给李四转88元", "transfer_money")
    zhangsan.run(ActionTransfer(), "换成给王五", "inform")
    draft = draft_of(zhangsan)
    assert draft.amount_fen == 8_800 and "五" in draft.recipient_display  # 王五, masked as *五


def test_a_saved_alias_inside_a_sentence_and_a_phone_number_are_recipients(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "帮我给妈妈打1000过去", "transfer_money")
    assert draft_of(zhangsan).amount_fen == 100_000
    zhangsan.run(ActionTransfer(), "给13200005555转88元", "transfer_money")
    draft = draft_of(zhangsan)
    assert draft.amount_fen == 8_800 and "静" in draft.recipient_display  # 陈静, a new recipient for 张三
    assert draft.needs_otp


def test_a_visitor_asking_to_transfer_gets_the_login_prompt_and_nothing_else(ledger):
    visitor = Conversation(None)
    visitor.run(ActionTransfer(), "给李四转500", "transfer_money")
    assert len(visitor.replies) == 1 and "确认您的身份" in visitor.text
    assert not visitor.slots.get("transfer_step")


def test_missing_pieces_are_asked_one_at_a_time(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "我要转账", "transfer_money")
    assert zhangsan.slots["transfer_step"] == "recipient"
    zhangsan.run(ActionTransfer(), "小刘", "inform")
    assert zhangsan.slots["transfer_step"] == "amount"
    zhangsan.run(ActionTransfer(), "两百五", "inform")
    assert draft_of(zhangsan).amount_fen == 25_000


def test_confirming_asks_for_the_pin_of_that_draft_and_shows_what_it_pays(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给李四转500", "transfer_money")
    draft_id = zhangsan.slots["draft_id"]
    zhangsan.run(ActionResolveOffer(), "确认转账", "affirm", [{"entity": "draft_id", "value": draft_id}])
    request = next(m["custom"] for m in zhangsan.replies if m.get("custom"))
    assert request["type"] == "pin_request" and request["draft_id"] == draft_id
    assert "¥500.00" in request["summary"]


def test_cancel_on_an_old_summary_leaves_the_new_one_alone(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给李四转500", "transfer_money")
    old_id = zhangsan.slots["draft_id"]
    zhangsan.run(ActionTransfer(), "改成200", "inform")
    zhangsan.run(ActionCancel(), "取消", "cancel", [{"entity": "draft_id", "value": old_id}])
    assert "已失效" in zhangsan.text
    assert draft_of(zhangsan).status == "draft"


def test_asking_for_a_person_mid_transfer_cancels_the_draft_and_hands_over(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给李四转500", "transfer_money")
    draft_id = zhangsan.slots["draft_id"]
    zhangsan.run(ActionRequestHuman(), "转人工", "request_human")
    assert any((m.get("custom") or {}).get("type") == "handoff" for m in zhangsan.replies)
    assert "已为您取消" in zhangsan.text
    uow = SqlAlchemyUnitOfWork(get_session_factory(), read_only=True)
    assert get_draft(uow, customer_id="demo-zhangsan", draft_id=draft_id).status == "cancelled"


def test_a_question_about_service_hours_is_answered_not_queued(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionRequestHuman(), "人工客服几点下班", "request_human")
    assert not any((m.get("custom") or {}).get("type") == "handoff" for m in zhangsan.replies)
    assert zhangsan.slots.get("pending_offer") == "human"


def test_money_coming_in_is_a_history_question(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionCheckTransactions(), "最近有没有人给我转钱", "check_transactions")
    assert "+¥" in zhangsan.text and "-¥" not in zhangsan.text.split("最近几笔")[-1]


def test_wait_a_moment_keeps_the_summary(ledger):
    from actions.actions import ActionAnswerFaq

    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给李四转350", "transfer_money")
    zhangsan.run(ActionCancel(), "等一下", "cancel")
    zhangsan.run(ActionAnswerFaq(), "等一下", "ask_wallet_intro")
    assert draft_of(zhangsan).status == "draft" and "不着急" in zhangsan.text


def test_a_correction_the_model_read_as_a_question_still_corrects(ledger):
    from actions.actions import ActionAnswerFaq

    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给小刘转500", "transfer_money")
    zhangsan.run(ActionAnswerFaq(), "多转点吧，改1000，他最近不容易", "ask_security")
    assert draft_of(zhangsan).amount_fen == 100_000


def test_a_named_payee_and_amount_the_model_called_out_of_scope_is_a_transfer(ledger):
    from actions.actions import ActionOutOfScope

    lisi = Conversation("demo-lisi")
    lisi.run(ActionOutOfScope(), "王五 100 借他吃饭", "out_of_scope")
    assert draft_of(lisi).amount_fen == 10_000


def test_my_mum_is_the_recipient_saved_as_mama(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给我妈打500块", "transfer_money")
    assert draft_of(zhangsan).amount_fen == 50_000 and "妈妈" in draft_of(zhangsan).recipient_display


def test_someone_elses_balance_is_never_read_out(ledger):
    from actions.account import ActionCheckBalance

    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionCheckBalance(), "余额多少", "check_balance")
    zhangsan.run(ActionTransfer(), "那李四的呢", "inform")
    assert "本人" in zhangsan.text and "¥500.00" not in zhangsan.text and not zhangsan.slots.get("draft_id")


def test_a_bare_option_number_under_a_summary_is_never_an_amount(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionTransfer(), "给王五转1万零5百块", "transfer_money")
    first = zhangsan.slots["draft_id"]
    zhangsan.run(ActionTransfer(), "1", "inform")
    assert zhangsan.slots.get("draft_id", first) == first and draft_of(zhangsan).amount_fen == 1_050_000


def test_an_amount_and_a_payee_the_model_read_as_history_is_a_transfer(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionCheckTransactions(), "壹拾贰，转给我妈", "check_transactions")
    assert draft_of(zhangsan).amount_fen == 1_200 and "妈妈" in draft_of(zhangsan).recipient_display


def test_an_amount_and_a_payee_the_model_read_as_a_question_about_transfers_is_a_transfer(ledger):
    from actions.actions import ActionAnswerFaq

    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionAnswerFaq(), "８０４．６９，转给我妈", "ask_transfer_rules")
    assert draft_of(zhangsan).amount_fen == 80_469 and "妈妈" in draft_of(zhangsan).recipient_display


@pytest.mark.parametrize("message", ["给我妈转500要多久到账？", "转给李四2000有限额吗"])
def test_a_question_about_transferring_with_an_amount_and_a_payee_is_answered_not_drafted(ledger, message):
    from actions.actions import ActionAnswerFaq

    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionAnswerFaq(), message, "ask_transfer_rules")
    assert not zhangsan.slots.get("draft_id") and zhangsan.slots.get("last_faq_id")


@pytest.mark.parametrize("message", ["我转给我妈的500有记录吗", "给妈妈转了12块，到账了吗", "上次给李四转300那笔"])
def test_a_question_about_a_transfer_made_stays_a_history_answer(ledger, message):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionCheckTransactions(), message, "check_transactions")
    assert not zhangsan.slots.get("draft_id") and "¥" in zhangsan.text


def test_asking_to_lock_the_wallet_offers_the_freeze_whatever_the_topic(ledger):
    from actions.actions import ActionAnswerFaq

    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionAnswerFaq(), "孩子老拿手机乱点东西，帮我把账户先冻住吧", "ask_security")
    assert zhangsan.slots.get("pending_offer") == "freeze"
    assert any(b.get("payload") == "/affirm" for b in buttons(zhangsan))


def test_the_one_before_after_a_history_answer_is_history_whatever_the_model_read(ledger):
    zhangsan = Conversation("demo-zhangsan")
    zhangsan.run(ActionCheckTransactions(), "最近一笔", "check_transactions")
    zhangsan.run(ActionTransfer(), "那再往前一笔呢", "transfer_money")
    assert not zhangsan.slots.get("transfer_step") and not zhangsan.slots.get("draft_id") and "¥" in zhangsan.replies[-1]["text"]
