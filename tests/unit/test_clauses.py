"""Two questions in one message become two turns; dialogue words and single questions stay whole."""

from __future__ import annotations

import asyncio

from bot.gateway.clauses import clauses, turns

INTENTS = {  # what a stand-in NLU reads in each clause: (intent, confidence)
    "余额多少": ("check_balance", 0.98), "提现收费吗": ("ask_fees", 0.95), "不对": ("deny", 0.9),
    "是200": ("inform", 0.9), "给李四转500": ("transfer_money", 0.97), "谢谢": ("thank", 0.99),
    "先查下余额": ("check_balance", 0.93), "我这人不太懂这些": ("nlu_fallback", 0.3),
    "要先绑定什么卡才能用呢": ("ask_bind_card", 0.9), "请教一下": ("nlu_fallback", 0.3),
}


def read(text: str) -> list[str]:
    async def parse(part: str) -> tuple[str, float]:
        return INTENTS.get(part, ("nlu_fallback", 0.2))

    return asyncio.run(turns(text, parse))


def test_two_questions_are_two_turns_in_order():
    assert read("余额多少？顺便问下提现收费吗") == ["余额多少", "提现收费吗"]
    assert read("先查下余额，然后给李四转500") == ["先查下余额", "给李四转500"]


def test_a_correction_and_a_thank_you_stay_one_message():
    assert read("不对，是200") == ["不对，是200"]
    assert read("给李四转500，谢谢") == ["给李四转500，谢谢"]


def test_a_rambling_message_gets_its_one_clear_question():
    assert read("我这人不太懂这些，请教一下，要先绑定什么卡才能用呢") == ["要先绑定什么卡才能用呢"]


def test_a_single_question_is_never_cut():
    assert clauses("人呢？？") == [] and read("人呢？？") == ["人呢？？"]


def test_a_reason_after_a_transfer_is_not_a_second_question():
    INTENTS["给王五转1万零5百块"] = ("transfer_money", 0.97)
    INTENTS["他装修急用"] = ("ask_topup_withdraw", 0.9)
    INTENTS["给王五转1万零5百块，他装修急用"] = ("transfer_money", 0.95)
    assert read("给王五转1万零5百块，他装修急用") == ["给王五转1万零5百块，他装修急用"]


def test_a_short_answer_with_a_clause_is_read_whole():
    INTENTS["哦那已经转过了"] = ("check_transactions", 0.9)
    INTENTS["不用了"] = ("deny", 0.95)
    assert read("哦那已经转过了，不用了") == ["哦那已经转过了，不用了"]


def test_an_amount_before_its_payee_is_one_transfer_however_each_half_is_read():
    # A model may read a bare amount as a transfer and "转给我妈" as a history question; the amount is
    # still a value of the clause beside it, never a turn of its own that asks "转给谁".
    INTENTS["四万九千八百六十九块四毛三分"] = ("transfer_money", 0.9)
    INTENTS["转给我妈"] = ("check_transactions", 0.8)
    assert read("四万九千八百六十九块四毛三分，转给我妈") == ["四万九千八百六十九块四毛三分，转给我妈"]
    INTENTS["¥1,288.50"] = ("transfer_money", 0.9)
    assert read("¥1,288.50，转给我妈") == ["¥1,288.50，转给我妈"]
