"""Issue 12.1: an identity signed for one message vouches for nobody on another message."""

from __future__ import annotations

import time

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer_of, reader
from actions.transfer import ActionTransfer
from bot.identity import METADATA_KEY, sign_identity
from bot.phrases import say
from bot.wallet import latest_open_draft
from tests.actions.conftest import SECRET, SENDER


def tracker_with(text: str, signed_text: str) -> Tracker:
    metadata = {"channel": "web", METADATA_KEY: sign_identity(SECRET, customer_id="demo-zhangsan", sender=SENDER, text=signed_text, now=time.time())}
    latest = {"text": text, "intent": {"name": "transfer_money", "confidence": 0.99}, "entities": [], "metadata": metadata}
    return Tracker(SENDER, {}, latest, [], False, None, {}, "action_listen")


def test_an_identity_vouches_for_the_message_it_was_signed_for(ledger):
    assert customer_of(tracker_with("给李四转100块", signed_text="给李四转100块")) == "demo-zhangsan"


def test_an_identity_replayed_with_another_text_vouches_for_nobody(ledger):
    assert customer_of(tracker_with("给李四转4999块", signed_text="给李四转100块")) is None


def test_a_replayed_identity_drafts_no_transfer(ledger):
    dispatcher = CollectingDispatcher()
    ActionTransfer().run(dispatcher, tracker_with("给李四转4999块", signed_text="给李四转100块"), {})
    assert latest_open_draft(reader(), "demo-zhangsan") is None
    assert [m.get("text") for m in dispatcher.messages] == [say("login_required")]


def test_a_button_payload_is_a_message_too(ledger):
    payload = '/affirm{"draft_id": "d-1"}'
    assert customer_of(tracker_with(payload, signed_text=payload)) == "demo-zhangsan"
    assert customer_of(tracker_with('/affirm{"draft_id": "d-2"}', signed_text=payload)) is None


def test_an_identity_serves_only_the_turn_it_first_came_with(ledger):
    """Every action of one turn may read the identity; the same message posted again is a new turn
    (Rasa gives it a new message id), and its identity is refused."""
    import time as _time

    from rasa_sdk import Tracker

    from actions.common import customer_of
    from bot.identity import METADATA_KEY, sign_identity
    from tests.actions.conftest import SECRET, SENDER

    text = "给李四转100块"
    metadata = {"channel": "web", METADATA_KEY: sign_identity(SECRET, customer_id="demo-zhangsan", sender=SENDER, text=text, now=_time.time())}

    def turn(message_id: str) -> Tracker:
        latest = {"text": text, "intent": {"name": "transfer_money"}, "entities": [], "metadata": metadata, "message_id": message_id}
        return Tracker(SENDER, {}, latest, [], False, None, {}, "action_listen")

    first = turn("rasa-message-1")
    assert customer_of(first) == "demo-zhangsan"
    assert customer_of(first) == "demo-zhangsan"  # a second action of the same turn
    assert customer_of(turn("rasa-message-2")) is None  # the message replayed: another turn
