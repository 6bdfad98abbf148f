"""The messenger inbox: an event is handled once, and one a killed gateway held is handled by the next.

Each `Inbox` below is one gateway process (its own boot id); "a dead gateway" is one whose inbox is
simply not used any more, as after a kill -9.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.dedupe import ORPHAN_AGE_MAX_S, InboundEvent, Inbox

SECRET = "inbox-tests-secret-0123456789abcdef"
BODY = '{"update_id": 900001, "message": {"text": "我的支付密码是246810"}}'


def _row(session_factory, key: str) -> InboundEvent:
    with session_factory() as session:
        return session.scalar(select(InboundEvent).where(InboundEvent.event_key == key))


def test_an_event_is_handled_once_by_its_gateway(session_factory):
    gateway = Inbox(session_factory, SECRET)
    assert gateway.receive("telegram", "900001", BODY)
    assert not gateway.receive("telegram", "900001", BODY)  # Telegram retried while it is being handled
    gateway.done("telegram", "900001")
    assert not gateway.receive("telegram", "900001", BODY)
    assert not Inbox(session_factory, SECRET).receive("telegram", "900001", BODY)  # done: never again, by anyone


def test_the_body_is_kept_sealed_and_dropped_once_answered(session_factory):
    gateway = Inbox(session_factory, SECRET)
    gateway.receive("telegram", "900002", BODY)
    sealed = _row(session_factory, "900002").body_sealed
    assert sealed and "246810" not in sealed and "密码" not in sealed
    gateway.done("telegram", "900002")
    row = _row(session_factory, "900002")
    assert row.body_sealed is None and row.done_at is not None


def test_an_event_a_killed_gateway_held_is_taken_over_by_exactly_one_successor(session_factory):
    Inbox(session_factory, SECRET).receive("wechat", "msg-1", "<xml/>")  # and then the gateway was killed
    successor = Inbox(session_factory, SECRET)
    assert successor.receive("wechat", "msg-1", "<xml/>")  # WeChat's retry reaches the restarted gateway
    assert not successor.receive("wechat", "msg-1", "<xml/>")  # its second retry: already being handled
    assert successor.orphans("wechat") == []  # taken by the retry, so not recovered a second time


def test_at_startup_the_successor_recovers_what_a_killed_gateway_accepted(session_factory):
    dead = Inbox(session_factory, SECRET)
    dead.receive("telegram", "900003", BODY)
    dead.receive("telegram", "900004", BODY.replace("900001", "900004"))
    dead.done("telegram", "900004")
    successor = Inbox(session_factory, SECRET)
    assert [(o.key, o.body) for o in successor.orphans("telegram")] == [("900003", BODY)]
    assert successor.orphans("telegram") == []
    assert Inbox(session_factory, SECRET).orphans("telegram") != []  # the successor died too before answering


def test_an_old_or_unreadable_orphan_is_not_answered(session_factory):
    Inbox(session_factory, "another-secret-0123456789abcdef").receive("telegram", "900005", BODY)
    assert Inbox(session_factory, SECRET).orphans("telegram") == []
    assert _row(session_factory, "900005").done_at is not None  # given up, not retried forever
    Inbox(session_factory, SECRET).receive("telegram", "900006", BODY)
    later = datetime.now(timezone.utc) + timedelta(seconds=ORPHAN_AGE_MAX_S + 60)
    assert Inbox(session_factory, SECRET).orphans("telegram", now=later) == []


def test_a_successor_delivers_what_the_dead_gateway_stored_instead_of_a_second_turn(desk):
    conversation = desk.conversation(channel="telegram")
    desk.store.append(conversation, sender="bot", text="您好")
    dead = Inbox(desk.session_factory, SECRET)
    dead.receive("telegram", "900007", BODY)
    assert dead.begin("telegram", "900007", conversation) is None  # nothing stored yet: handle it
    asked = desk.store.append(conversation, sender="customer", text="数字钱包安全吗")
    answered = desk.store.append(conversation, sender="bot", text="安全的回答")
    successor = Inbox(desk.session_factory, SECRET)
    assert successor.receive("telegram", "900007", BODY)
    resumed = successor.begin("telegram", "900007", conversation)
    assert resumed is not None and resumed.message_ids == (asked.id, answered.id)


def test_a_successor_handles_an_event_the_dead_gateway_had_not_begun(desk):
    conversation = desk.conversation(channel="telegram")
    Inbox(desk.session_factory, SECRET).receive("telegram", "900008", BODY)
    successor = Inbox(desk.session_factory, SECRET)
    assert successor.orphans("telegram")[0].key == "900008"
    assert successor.begin("telegram", "900008", conversation) is None


def test_a_nonce_is_recorded_as_done_at_once(session_factory):
    inbox = Inbox(session_factory, SECRET)
    assert inbox.first_time("wechat-nonce", "1700000000:abc")
    assert not Inbox(session_factory, SECRET).first_time("wechat-nonce", "1700000000:abc")
    assert Inbox(session_factory, SECRET).orphans("wechat-nonce") == []
