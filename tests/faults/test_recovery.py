"""After a crash between verifying the last secret and answering, the customer's next message (or the
retried PIN) is told what became of the transfer: the gateway in process on a real SQLite database, the
crash left as the ledger would show it, and no Rasa needed (the recovery answers before Rasa is asked).

Also the input hygiene a hostile or broken client needs: control characters stripped before anything is
stored, and personal numbers masked on their way to Rasa unless they name a transfer's recipient.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bot.db import make_engine, make_session_factory, upgrade_database
from bot.gateway.app import create_app
from bot.gateway.chat import numbers_for_rasa
from bot.handoff import ChatStore
from bot.identity import issue_app_token
from bot.phrases import say
from bot.settings import load_settings
from bot.wallet import SqlAlchemyUnitOfWork, create_transfer_draft, execute_draft, get_balance, get_customer, get_draft, seed_demo, verify_pin
from tests.conftest import free_port

SECRET = "recovery-test-secret-0123456789abcdefghij"


@pytest.fixture()
def world(tmp_path):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade_database(url)
    settings = load_settings({"WALLETBOT_SECRET": SECRET, "DATABASE_URL": url, "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())})
    sessions = make_session_factory(make_engine(url))
    seed_demo(SqlAlchemyUnitOfWork(sessions, settings=settings))
    with TestClient(create_app(settings, session_factory=sessions)) as client:
        client.headers["Authorization"] = f"Bearer {issue_app_token(SECRET, 'demo-zhangsan')}"
        client.uow = lambda: SqlAlchemyUnitOfWork(sessions, settings=settings)  # noqa: E731
        client.store = ChatStore(sessions)
        yield client


def crashed_after_the_pin(world, *, committed: bool) -> str:
    """The state a SIGKILL leaves: the conversation awaits the PIN, the ledger has the draft confirmed (or executed)."""
    lisi = get_customer(world.uow(), "demo-lisi")
    draft = create_transfer_draft(world.uow(), customer_id="demo-zhangsan", recipient_wallet_id=lisi.wallet_id, amount_fen=12_300, channel="web")
    conversation = world.store.open_conversation(channel="web", external_id="c:demo-zhangsan", customer_id="demo-zhangsan")
    world.store.set_awaiting(conversation.id, secret="pin", draft_id=draft.draft_id)
    verify_pin(world.uow(), customer_id="demo-zhangsan", pin="246810", draft_id=draft.draft_id)
    if committed:
        execute_draft(world.uow(), customer_id="demo-zhangsan", draft_id=draft.draft_id)
    return draft.draft_id


def test_the_next_message_after_a_crash_before_the_commit_says_no_money_moved_and_cancels_the_draft(world):
    before = get_balance(world.uow(), "demo-zhangsan").balance_fen
    draft_id = crashed_after_the_pin(world, committed=False)
    [reply] = world.post("/api/chat/messages", json={"text": "刚才的转账怎么样了"}).json()["messages"]
    assert reply["text"] == say("transfer_interrupted")
    assert get_draft(world.uow(), customer_id="demo-zhangsan", draft_id=draft_id).status == "cancelled"
    assert get_balance(world.uow(), "demo-zhangsan").balance_fen == before
    assert world.post("/api/chat/pin", json={"pin": "246810"}).status_code == 409


def test_a_retried_pin_after_a_crash_after_the_commit_gets_the_receipt_and_moves_nothing_more(world):
    draft_id = crashed_after_the_pin(world, committed=True)
    after = get_balance(world.uow(), "demo-zhangsan").balance_fen
    response = world.post("/api/chat/pin", json={"pin": "246810"})
    [reply] = response.json()["messages"]
    assert reply["text"].startswith(say("transfer_recovered")) and "¥123.00" in reply["text"] and draft_id[-12:] in reply["text"]
    assert get_balance(world.uow(), "demo-zhangsan").balance_fen == after
    assert world.post("/api/chat/pin", json={"pin": "246810"}).status_code == 409


def test_control_characters_and_direction_overrides_are_dropped_before_anything_is_stored(world):
    stored = world.post("/api/chat/messages", json={"text": "\x00查\u202e余\x1b额\x7f"}).json()["customer_message"]
    assert stored["text"] == "查余额"
    refused = world.post("/api/chat/messages", json={"text": "\x00\x01\u2066"})
    assert refused.status_code == 422 and refused.json()["detail"] == say("empty_message")


@pytest.mark.parametrize(
    ("text", "for_rasa", "sealed"),
    [
        ("13812345678的余额是多少", "【号码1】的余额是多少", ["13812345678"]),
        ("身份证110101199003071234丢了", "身份证110101********1234丢了", []),
        ("钱包号6288010000001001的交易记录", "钱包号【号码1】的交易记录", ["6288010000001001"]),
        ("给13812345678转100", "给【号码1】转100", ["13812345678"]),  # the recipient of a transfer
        ("13812345678", "【号码1】", ["13812345678"]),  # the answer to "转给谁"
        ("收款人 6288010000001001", "收款人 【号码1】", ["6288010000001001"]),
        ("转给身份证110101199003071234的人", "转给身份证110101********1234的人", []),  # an ID number never names a recipient
        ("五百块", "五百块", []),
    ],
)
def test_personal_numbers_never_reach_rasa_in_clear_and_a_recipients_travels_sealed_for_the_actions(text, for_rasa, sealed):
    assert numbers_for_rasa(text) == (for_rasa, sealed)
