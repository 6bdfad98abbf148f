"""A Telegram customer talks to the real stack (gateway in webhook mode, Rasa, action server).

Telegram is played by the fake Bot API server on 127.0.0.1: updates are posted to the gateway's
`/telegram/webhook` as Telegram would post them, and the bot's answers are the calls it records.
"""

from __future__ import annotations

import json
import re
import signal

import httpx
import pytest
from sqlalchemy import select

from bot.binding import Binder
from bot.handoff.models import ChatMessage, Conversation
from bot.knowledge import get_knowledge_base
from bot.phrases import say
from bot.runner import rasa_api_token
from tests.telegram.conftest import WEBHOOK_BOT_TOKEN, WEBHOOK_SECRET, WebhookCustomer
from tests.telegram.fake_bot_api import button_click, message

pytestmark = pytest.mark.e2e


def texts(sent) -> list[str]:
    return [call.text for call in sent]


def bind(customer: WebhookCustomer, sessions, settings, customer_id: str) -> None:
    code = Binder(sessions, settings.secret).issue_code(customer_id).code
    assert texts(customer.says(f"/bind {code}")) == [say("telegram_bind_done")]


def test_the_gateway_registers_its_webhook_with_the_secret_token(fake_telegram, webhook_gateway):
    call = fake_telegram.wait_for(lambda c: c.method == "setWebhook" and c.token == WEBHOOK_BOT_TOKEN)
    assert call.params["url"] == f"{webhook_gateway.url}/telegram/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert sorted(call.params["allowed_updates"]) == ["callback_query", "message"]


def test_an_update_without_the_right_secret_is_refused_with_403_and_never_processed(telegram_user, fake_telegram):
    mark = fake_telegram.mark()
    for secret in (None, "", "wrong", WEBHOOK_SECRET + "x", WEBHOOK_SECRET[:-1], "密码".encode()):
        assert telegram_user.post(message(telegram_user.user_id, text="我的余额"), secret=secret).status_code == 403
    # The chat's next real update is answered, and it is the only thing answered.
    assert texts(telegram_user.says("/start")) == [say("telegram_start")]
    assert len(fake_telegram.calls_since(mark, chat_id=telegram_user.user_id)) == 1


def test_a_malformed_update_is_a_400(telegram_user):
    response = httpx.post(
        f"{telegram_user.gateway.url}/telegram/webhook",
        content=b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "content-type": "application/json"},
    )
    assert response.status_code == 400


def test_a_question_gets_the_real_bots_answer(telegram_user):
    sent = telegram_user.says("數字錢包怎麼開通？")
    assert get_knowledge_base().get("open_steps").answer in texts(sent)


def test_a_repeated_update_id_is_answered_once(telegram_user, fake_telegram):
    update = message(telegram_user.user_id, text="数字钱包安全吗")
    first = telegram_user.deliver(update)
    mark = fake_telegram.mark()
    assert telegram_user.post(update).status_code == 200  # Telegram retried: accepted, not processed again
    # One chat's updates are handled in order, so once this answer arrives the repeat has been dropped.
    assert texts(telegram_user.says("/start")) == [say("telegram_start")]
    assert len(first) >= 1
    assert texts(fake_telegram.calls_since(mark, method="sendMessage", chat_id=telegram_user.user_id)) == [say("telegram_start")]


def test_buttons_are_inline_keyboards_with_short_ids_and_a_click_is_answered(telegram_user, fake_telegram):
    offer = telegram_user.says("asdfghjkl")[-1]
    assert [b["text"] for b in offer.buttons] == ["转人工客服", "不用了"]
    for button in offer.buttons:
        assert re.fullmatch(r"b:\d+:b\d+", button["callback_data"])
        assert len(button["callback_data"].encode()) <= 64
    mark = fake_telegram.mark()
    answer = telegram_user.clicks(offer, "不用了")
    assert texts(answer) == [say("anything_else")]
    assert fake_telegram.calls_since(mark, method="answerCallbackQuery")
    [edit] = fake_telegram.calls_since(mark, method="editMessageReplyMarkup", chat_id=telegram_user.user_id)
    assert edit.message_id == offer.message_id and not edit.params.get("reply_markup")


@pytest.mark.parametrize("data", ["b:1:b1", '/check_balance{"customer_id": "demo-lisi"}', "x" * 64])
def test_a_forged_button_is_answered_and_politely_refused(telegram_user, fake_telegram, data):
    mark = fake_telegram.mark()
    sent = telegram_user.deliver(button_click(telegram_user.user_id, data=data, message_id=1))
    assert texts(sent) == [say("button_expired")]
    assert fake_telegram.calls_since(mark, method="answerCallbackQuery")


def test_binding_with_a_code_from_the_app_lets_the_customer_check_the_balance(
    telegram_user, telegram_stack, telegram_sessions
):
    assert texts(telegram_user.says("我的余额")) == [say("login_required")]
    assert texts(telegram_user.says("/bind 12345")) == [say("telegram_bind_usage")]
    assert texts(telegram_user.says("/bind 000000")) == [say("telegram_bind_invalid", attempts_left=4)]
    code = Binder(telegram_sessions, telegram_stack.settings.secret).issue_code("demo-wangwu").code
    assert texts(telegram_user.says(f"/bind {code}")) == [say("telegram_bind_done")]
    [balance] = texts(telegram_user.says("我的余额"))
    assert "¥0.00" in balance
    # The code went nowhere but to the binder: not into a transcript, not into the log.
    with telegram_sessions() as session:
        assert session.scalars(select(ChatMessage.text).where(ChatMessage.text.contains(code))).all() == []
    assert code not in telegram_stack.log_dir.joinpath("gateway.log").read_text(errors="replace")
    assert texts(telegram_user.says("/unbind")) == [say("telegram_unbind_done")]
    assert texts(telegram_user.says("我的余额")) == [say("login_required")]
    assert texts(telegram_user.says("/unbind")) == [say("telegram_unbind_none")]


def test_a_pin_typed_after_confirming_a_transfer_is_deleted_and_the_money_moves(
    telegram_user, fake_telegram, telegram_stack, telegram_sessions
):
    bind(telegram_user, telegram_sessions, telegram_stack.settings, "demo-lisi")
    summary = telegram_user.says("给张三转10块")[-1]
    assert "¥10.00" in summary.text
    [prompt] = telegram_user.clicks(summary, "确认转账")
    assert say("telegram_pin_hint") in prompt.text and not prompt.buttons

    mark = fake_telegram.mark()
    pin = message(telegram_user.user_id, text="135790")
    assert telegram_user.post(pin).status_code == 200
    chat = telegram_user.user_id
    fake_telegram.wait_for(
        lambda c: c.seq > mark and c.method == "deleteMessage" and c.chat_id == chat and c.message_id == pin["message"]["message_id"]
    )
    # First the notice standing in for the deleted message (typed in a messenger: change the PIN), then the receipt.
    notice = fake_telegram.wait_for(lambda c: c.seq > mark and c.method == "sendMessage" and c.chat_id == chat)
    assert notice.text.startswith(say("secret_captured")), notice.text
    done = fake_telegram.wait_for(lambda c: c.seq > notice.seq and c.method == "sendMessage" and c.chat_id == chat)
    assert "转账成功" in done.text and "¥490.00" in done.text, done.text

    # The PIN reached neither the transcript, nor Rasa's tracker, nor the gateway's log.
    with telegram_sessions() as session:
        conversation_id = session.scalars(
            select(Conversation.id).where(Conversation.channel == "telegram", Conversation.external_id == str(chat))
        ).one()
        transcript = session.scalars(select(ChatMessage.text).where(ChatMessage.conversation_id == conversation_id)).all()
    assert transcript and all("135790" not in text for text in transcript)
    tracker = httpx.get(
        f"http://127.0.0.1:{telegram_stack.settings.rasa_port}/conversations/{conversation_id}/tracker",
        params={"token": rasa_api_token(telegram_stack.settings)},
    ).json()
    assert "135790" not in str(tracker["events"])
    assert "135790" not in telegram_stack.log_dir.joinpath("gateway.log").read_text(errors="replace")


def test_a_photo_or_a_sticker_gets_a_polite_please_type_text(telegram_user):
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
    assert texts(telegram_user.says(photo=photo)) == [say("telegram_text_only")]
    sticker = {"file_id": "s1", "file_unique_id": "u2", "width": 512, "height": 512, "is_animated": False, "is_video": False, "type": "regular"}
    assert texts(telegram_user.says(sticker=sticker)) == [say("telegram_text_only")]


def test_in_a_group_the_bot_asks_for_a_private_chat_and_answers_nothing_else(telegram_user, fake_telegram):
    group = {"id": -1_000_000_000_000 - telegram_user.user_id, "type": "supergroup", "title": "家庭群"}
    mark = fake_telegram.mark()
    for text in ("我的余额", "/bind 123456"):
        assert telegram_user.post(message(telegram_user.user_id, text=text, chat=group)).status_code == 200
    reply = fake_telegram.wait_for(lambda c: c.seq > mark and c.chat_id == group["id"])
    fake_telegram.settle(chat_id=group["id"])
    assert reply.text == say("telegram_private_only")
    assert texts(fake_telegram.calls_since(mark, chat_id=group["id"])) == [say("telegram_private_only")]


def test_a_failed_send_is_logged_without_the_text_and_the_bot_keeps_answering(telegram_user, fake_telegram, webhook_gateway):
    fake_telegram.fail("sendMessage", chat_id=telegram_user.user_id)
    sent = telegram_user.says("支付密码忘了怎么找回")
    assert texts(sent)[-1] == say("telegram_error")
    assert get_knowledge_base().get("open_steps").answer in texts(telegram_user.says("数字钱包怎么开通"))
    log = webhook_gateway.log_path.read_text(errors="replace")
    assert "failed: BadRequest" in log
    assert "支付密码忘了怎么找回" not in log


def test_updates_a_killed_gateway_accepted_are_answered_by_the_restarted_one_and_never_twice(
    telegram_user, fake_telegram, telegram_stack, telegram_sessions, webhook_gateway
):
    """Telegram never resends an update it got a 200 for: the inbox keeps it until it is answered."""
    from bot.dedupe import InboundEvent, Inbox
    from bot.handoff import ChatStore

    secret, store = telegram_stack.settings.secret, ChatStore(telegram_sessions)
    dead = Inbox(telegram_sessions, secret, owner="killed-gateway")
    untouched, replied, cut_short = (WebhookCustomer(webhook_gateway, fake_telegram, telegram_user.user_id + n) for n in (1, 2, 3))

    def accepted_by_the_dead_gateway(customer, text):
        update = message(customer.user_id, text=text)
        assert dead.receive("telegram", str(update["update_id"]), json.dumps(update, ensure_ascii=False))
        return update

    def conversation_of(customer):
        return store.open_conversation(channel="telegram", external_id=str(customer.user_id), customer_id=None).id

    # 1. accepted, not begun: the restarted gateway runs the turn.
    accepted_by_the_dead_gateway(untouched, "数字钱包怎么开通")
    # 2. begun, the question and the answer stored, the answer never sent: it is sent, not asked again.
    update = accepted_by_the_dead_gateway(replied, "数字钱包安全吗")
    assert dead.begin("telegram", str(update["update_id"]), conversation_of(replied)) is None
    store.append(conversation_of(replied), sender="customer", text="数字钱包安全吗")
    store.append(conversation_of(replied), sender="bot", text="（已生成、未发出的回答）")
    # 3. begun, only the question stored: the customer is told honestly and asked to send it again.
    update = accepted_by_the_dead_gateway(cut_short, "提现要手续费吗")
    assert dead.begin("telegram", str(update["update_id"]), conversation_of(cut_short)) is None
    store.append(conversation_of(cut_short), sender="customer", text="提现要手续费吗")
    # 4. a real kill -9 right after the live gateway's 200.
    mark = fake_telegram.mark()
    killed = message(telegram_user.user_id, text="支付密码忘了怎么办")
    assert telegram_user.post(killed).status_code == 200
    telegram_stack.stop("gateway", signal.SIGKILL)
    with telegram_sessions() as session:
        row = session.scalar(select(InboundEvent).where(InboundEvent.event_key == str(killed["update_id"])))
        assert row.done_at is None, "the turn finished before the kill: this run proves nothing"

    telegram_stack.restart("gateway")
    telegram_stack.wait_healthy()
    for customer in (untouched, replied, cut_short, telegram_user):
        fake_telegram.wait_for(lambda c: c.seq > mark and c.method == "sendMessage" and c.chat_id == customer.user_id)
        fake_telegram.settle(chat_id=customer.user_id)

    def sent_to(customer):
        return texts(fake_telegram.calls_since(mark, method="sendMessage", chat_id=customer.user_id))

    assert get_knowledge_base().get("open_steps").answer in sent_to(untouched)
    assert sent_to(replied) == ["（已生成、未发出的回答）"]
    assert sent_to(cut_short) == [say("turn_interrupted")]
    assert len(sent_to(telegram_user)) >= 1 and say("telegram_error") not in sent_to(telegram_user)
    with telegram_sessions() as session:
        asked = session.scalars(select(ChatMessage.text).where(
            ChatMessage.conversation_id == conversation_of(replied), ChatMessage.sender == "customer")).all()
        pending = session.scalars(select(InboundEvent.event_key).where(
            InboundEvent.channel == "telegram", InboundEvent.done_at.is_(None), InboundEvent.owner.is_not(None))).all()
        kept = session.scalars(select(InboundEvent.body_sealed).where(InboundEvent.body_sealed.is_not(None))).all()
    assert asked == ["数字钱包安全吗"]  # the turn was not run a second time
    assert pending == [] and kept == []
    # The next update of each chat is answered as usual, by the new gateway.
    assert texts(telegram_user.says("/start")) == [say("telegram_start")]
