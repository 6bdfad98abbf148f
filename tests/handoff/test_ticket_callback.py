"""A ticket's callback number stays usable by agents: sealed at rest, in clear only in the ticket itself."""

from __future__ import annotations

from sqlalchemy import select

from bot.handoff import queue
from bot.handoff.models import Ticket

from .conftest import NOON
from .test_queue import ask


def _filed(desk, text: str):
    conversation = desk.conversation(customer_id="demo-zhangsan")
    ticket = ask(desk, conversation).ticket
    queue.accept_ticket(desk.uow(), conversation_id=conversation, ticket_id=ticket.id)
    return queue.leave_message(desk.uow(), conversation_id=conversation, text=text, now=NOON)


def test_the_agent_sees_the_callback_number_in_the_ticket_and_nowhere_else(desk, session_factory):
    filed = _filed(desk, "钱被扣了，请回电 +86 138-1234-5678")
    assert filed.text == "钱被扣了，请回电 +86 138****5678" and filed.callback is None
    [listed] = queue.list_tickets(desk.uow())
    assert listed.callback == "13812345678"
    with session_factory() as session:
        row = session.scalars(select(Ticket)).one()
    assert "13812345678" not in (row.callback_sealed or "") and "13812345678" not in row.text


def test_a_ticket_without_a_phone_number_has_no_callback(desk):
    _filed(desk, "转账失败了")
    assert [t.callback for t in queue.list_tickets(desk.uow())] == [None]


def test_a_callback_sealed_under_another_secret_is_not_shown(desk, with_settings):
    _filed(desk, "请打13812345678")
    other = with_settings(secret="another-secret-0123456789abcdefghijkl")
    assert [t.callback for t in queue.list_tickets(other.uow())] == [None]
