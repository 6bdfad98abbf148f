"""Migration 0006 scrubs PINs already stored in transcripts and masks numbers with the wider rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import inspect, select

from bot.db import downgrade_database, make_engine, make_session_factory, upgrade_database
from bot.handoff.models import ChatMessage, Conversation

ASKED = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)


def _message(sender: str, text: str, minutes: float, custom: dict | None = None) -> ChatMessage:
    return ChatMessage(conversation_id="c1", sender=sender, text=text, custom=custom, created_at=ASKED + timedelta(minutes=minutes))


def test_pins_stored_before_the_rules_are_scrubbed_and_numbers_masked_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url, "0005")
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session:
        session.add(Conversation(id="c1", channel="web", external_id="v1", customer_id="demo-zhangsan", state="bot"))
        session.flush()
        session.add_all([
            _message("customer", "订单号246810", -30),  # no request yet: an ordinary number
            _message("customer", "我的支付密码是135790", -20),  # named: scrubbed at any time
            _message("bot", "请输入支付密码", 0, {"type": "pin_request", "kind": "pin", "draft_id": "d1"}),
            _message("customer", "246810。", 1),  # retyped soon after the request
            _message("customer", "给138-1234-5678转100", 2),  # a phone number, not a PIN
            _message("customer", "246811", 30),  # long after the request
        ])
        session.commit()
    upgrade_database(url)
    with factory() as session:
        texts = session.scalars(select(ChatMessage.text).where(ChatMessage.sender == "customer").order_by(ChatMessage.id)).all()
    assert texts == ["订单号246810", "我的支付密码是******", "******。", "给138****5678转100", "246811"]
    downgrade_database(url, "0005")
    assert "callback_sealed" not in {c["name"] for c in inspect(engine).get_columns("tickets")}
    engine.dispose()
