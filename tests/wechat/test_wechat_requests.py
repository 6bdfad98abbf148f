"""WeChat's requests to `/wechat`: signed or forged, plaintext or safe mode, against the real stack."""

from __future__ import annotations

import time

import httpx
import pytest

from bot.knowledge import get_knowledge_base
from bot.phrases import say

pytestmark = pytest.mark.e2e

OPEN_WALLET_ANSWERS = {entry.answer for entry in get_knowledge_base().entries_for("ask_open_wallet")}


def test_url_verification_echoes_echostr_when_the_signature_is_right(wechat):
    response = httpx.get(wechat.url, params={**wechat.signed_query(), "echostr": "8315093722437166290"})
    assert response.status_code == 200 and response.text == "8315093722437166290"


def test_url_verification_with_a_wrong_signature_is_forbidden(wechat):
    query = {**wechat.signed_query(), "echostr": "8315093722437166290"}
    query["signature"] = "0" * 40
    response = httpx.get(wechat.url, params=query)
    assert response.status_code == 403 and "8315093722437166290" not in response.text


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "safe-mode"])
def test_a_question_is_answered_by_the_bot_in_the_passive_reply(wechat, openid, aes):
    reply = wechat.say(openid, "数字钱包怎么开通", aes=aes)
    assert reply.status_code == 200 and reply.text in OPEN_WALLET_ANSWERS, reply.body
    assert ("<Encrypt>" in reply.body) == aes and ("数字钱包" in reply.body) != aes


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "safe-mode"])
def test_a_message_with_a_forged_signature_is_forbidden_and_never_answered(wechat, openid, aes):
    def forge(query, body):
        return {**query, "signature": "f" * 40}, body

    reply = wechat.post(wechat.text_xml(openid, "数字钱包怎么开通", wechat.new_msg_id()), aes=aes, tamper=forge)
    assert reply.status_code == 403 and reply.text is None


def test_a_safe_mode_message_with_a_wrong_msg_signature_is_forbidden(wechat, openid):
    def forge(query, body):
        return {**query, "msg_signature": "0" * 40}, body

    reply = wechat.post(wechat.text_xml(openid, "数字钱包怎么开通", wechat.new_msg_id()), aes=True, tamper=forge)
    assert reply.status_code == 403


def test_a_signed_request_replayed_an_hour_later_is_forbidden(wechat, openid):
    stale = wechat.signed_query(timestamp=int(time.time()) - 3600)
    reply = wechat.post(wechat.text_xml(openid, "数字钱包怎么开通", wechat.new_msg_id()), query=stale)
    assert reply.status_code == 403


def test_an_unsigned_request_is_forbidden(wechat, openid):
    response = httpx.post(wechat.url, content=wechat.text_xml(openid, "你好", wechat.new_msg_id()).encode())
    assert response.status_code == 403


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "safe-mode"])
def test_a_new_follower_is_greeted_and_told_how_to_bind(wechat, openid, aes):
    reply = wechat.post(wechat.event_xml(openid, "subscribe"), aes=aes)
    assert reply.text == say("wechat_welcome")
    assert "绑定 123456" in reply.text


def test_unsubscribing_is_acknowledged_without_a_reply(wechat, openid):
    reply = wechat.post(wechat.event_xml(openid, "unsubscribe"))
    assert reply.status_code == 200 and reply.body == "success"


def test_a_picture_gets_a_polite_request_to_type_text(wechat, openid):
    reply = wechat.post(wechat.image_xml(openid, wechat.new_msg_id()))
    assert reply.text == say("wechat_text_only")


@pytest.mark.parametrize("body", ["<xml><oops", "<xml><ToUserName>gh</ToUserName></xml>", ""])
def test_a_signed_but_malformed_body_gets_success_not_a_500(wechat, body):
    reply = wechat.post("<xml/>", tamper=lambda query, _: (query, body))
    assert reply.status_code == 200 and reply.body == "success"
