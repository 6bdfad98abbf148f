"""The word cues beside the model, on the messages they exist for."""

from __future__ import annotations

import pytest

from bot import cues
from bot.gateway.chat import wants_person


@pytest.mark.parametrize("text", ["转人工", "人呢？？", "我不想跟机器人说话", "叫你们经理来", "找个工作人员说一说", "在线刻服在吗"])
def test_every_way_of_asking_for_a_person_is_a_request(text):
    assert wants_person(text)


@pytest.mark.parametrize("text", ["客服电话多少", "人工几点下班", "不用转人工了", "客服打电话问我要验证码，能给吗"])
def test_questions_about_the_service_and_refusals_are_not_requests(text):
    assert not wants_person(text)


def test_a_lost_phone_and_a_freeze_request_are_recognised_in_their_many_forms():
    assert all(cues.match("lost_phone", t) for t in ("手机丢了怎么办", "我部手機唔見咗", "手机好像落在出租车上了"))
    assert not cues.match("lost_phone", "我想换个手机号")
    assert cues.match("wants_freeze", "能不能先把钱包锁住")


def test_waiting_is_a_hold_and_a_correction_is_a_correction():
    assert cues.match("hold_on", "等一下") and not cues.match("hold_on", "等一下不要了")
    assert cues.match("correction", "多转点吧，改1000") and cues.match("correction", "不对，是200")


def test_an_unknown_cue_is_an_error():
    with pytest.raises(cues.UnknownCue):
        cues.match("no_such_cue", "x")
