"""The queue's rules on a real SQLite database: priority, FIFO, capacity, waits, hours, time-outs,
transfers, ratings and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.handoff import (
    AgentNotFound,
    AgentOffline,
    CapacityReached,
    NotWaiting,
    NotYourConversation,
    RatingRejected,
    SameAgent,
    TicketNotFound,
    queue,
)
from bot.handoff.models import Conversation
from bot.wallet.models import AuditEntry

from .conftest import NOON, shanghai


def ask(desk, conversation_id, reason="customer_request", now=NOON, **flags):
    return queue.request_handoff(desk.uow(), conversation_id=conversation_id, reason=reason, now=now, **flags)


def waiting_order(desk, now=NOON) -> list[str]:
    return [item.handoff.conversation_id for item in queue.list_queue(desk.uow(), now=now) if item.handoff.status == "queued"]


def state_of(desk, conversation_id) -> str:
    with desk.session_factory() as session:
        return session.get(Conversation, conversation_id).state


def test_fraud_goes_first_then_locked_wallets_then_the_rest_first_come_first_served(desk):
    desk.agent("agent1")
    first, second, locked, fraud = (desk.conversation() for _ in range(4))
    ask(desk, first, now=NOON)
    ask(desk, second, now=NOON + timedelta(seconds=1))
    ask(desk, locked, now=NOON + timedelta(seconds=2), wallet_locked=True)
    ask(desk, fraud, reason="fraud", now=NOON + timedelta(seconds=3))
    assert waiting_order(desk) == [fraud, locked, first, second]


def test_an_urgent_request_counts_as_fraud_priority(desk):
    desk.agent("agent1")
    ordinary, urgent = desk.conversation(), desk.conversation()
    ask(desk, ordinary)
    outcome = ask(desk, urgent, now=NOON + timedelta(seconds=5), urgent=True)
    assert outcome.handoff.priority == queue.PRIORITY_FRAUD
    assert waiting_order(desk) == [urgent, ordinary]


def test_asking_twice_keeps_the_place_in_the_queue(desk):
    desk.agent("agent1")
    conversation = desk.conversation()
    first = ask(desk, conversation)
    again = ask(desk, conversation, now=NOON + timedelta(minutes=1))
    assert (first.kind, again.kind) == ("queued", "already")
    assert again.handoff.id == first.handoff.id and waiting_order(desk) == [conversation]


def test_position_counts_the_conversations_ahead_and_the_wait_shrinks_with_more_agents(desk):
    desk.agent("agent1")
    outcomes = [ask(desk, desk.conversation(), now=NOON + timedelta(seconds=i)) for i in range(4)]
    assert [o.spot.position for o in outcomes] == [0, 1, 2, 3]
    assert [o.spot.eta_minutes for o in outcomes] == [1, 3, 6, 9]  # 3 min × position / 1 agent, at least 1
    desk.agent("agent2")
    status = queue.conversation_status(desk.uow(), outcomes[3].handoff.conversation_id, now=NOON)
    assert status.spot == queue.QueueSpot(3, 5)  # ceil(9 / 2)


def test_the_wait_estimate_is_never_below_a_minute():
    assert queue.estimate_wait_minutes(0, 5) == 1
    assert queue.estimate_wait_minutes(1, 10) == 1
    assert queue.estimate_wait_minutes(2, 1) == 6


def test_a_claim_moves_everyone_behind_up_and_only_they_are_told(desk):
    agent = desk.agent("agent1")
    a, b, c = (desk.conversation() for _ in range(3))
    for i, conversation in enumerate((a, b, c)):
        ask(desk, conversation, now=NOON + timedelta(seconds=i))
    queue.claim(desk.uow(), conversation_id=a, agent_id=agent.id, now=NOON)
    moved = queue.positions_to_announce(desk.uow(), now=NOON)
    assert [(cid, spot.position) for cid, spot in moved] == [(b, 0), (c, 1)]
    assert queue.positions_to_announce(desk.uow(), now=NOON) == []


def test_an_agent_serves_at_most_their_capacity(desk):
    agent = desk.agent("agent1", capacity=2)
    conversations = [desk.conversation() for _ in range(3)]
    for conversation in conversations:
        ask(desk, conversation)
    queue.claim(desk.uow(), conversation_id=conversations[0], agent_id=agent.id, now=NOON)
    queue.claim(desk.uow(), conversation_id=conversations[1], agent_id=agent.id, now=NOON)
    with pytest.raises(CapacityReached):
        queue.claim(desk.uow(), conversation_id=conversations[2], agent_id=agent.id, now=NOON)
    assert state_of(desk, conversations[2]) == "queued"


def test_a_conversation_is_claimed_once(desk):
    first, second = desk.agent("agent1"), desk.agent("agent2")
    conversation = desk.conversation()
    ask(desk, conversation)
    queue.claim(desk.uow(), conversation_id=conversation, agent_id=first.id, now=NOON)
    with pytest.raises(NotWaiting):
        queue.claim(desk.uow(), conversation_id=conversation, agent_id=second.id, now=NOON)
    assert state_of(desk, conversation) == "assigned"


def test_an_offline_agent_cannot_claim(desk):
    desk.agent("agent1")
    idle = desk.agent("idle", online=False)
    conversation = desk.conversation()
    ask(desk, conversation)
    with pytest.raises(AgentOffline):
        queue.claim(desk.uow(), conversation_id=conversation, agent_id=idle.id, now=NOON)


def test_an_agent_whose_console_went_quiet_no_longer_counts_as_online(desk):
    desk.agent("agent1", now=NOON)
    later = NOON + timedelta(minutes=10)
    outcome = ask(desk, desk.conversation(), now=later)
    assert outcome.kind == "ticket"


def test_outside_business_hours_the_customer_is_offered_a_ticket_for_the_next_opening(desk):
    desk.agent("agent1", now=shanghai(21, 30))
    conversation = desk.conversation()
    outcome = ask(desk, conversation, now=shanghai(21, 30))
    assert outcome.kind == "ticket" and outcome.ticket.after_hours
    assert outcome.ticket.contact_after == shanghai(9, 0, day=4)
    assert state_of(desk, conversation) == "bot"
    early = ask(desk, desk.conversation(), now=shanghai(7, 15))
    assert early.ticket.contact_after == shanghai(9, 0)


def test_with_nobody_online_the_customer_is_offered_a_ticket_during_business_hours(desk):
    desk.agent("agent1", online=False)
    outcome = ask(desk, desk.conversation())
    assert outcome.kind == "ticket" and not outcome.ticket.after_hours


def test_business_hours_may_cross_midnight(with_settings):
    from datetime import time

    night = with_settings(business_hours_start=time(22, 0), business_hours_end=time(6, 0)).settings
    assert queue.is_open(night, shanghai(23, 0)) and queue.is_open(night, shanghai(5, 59))
    assert not queue.is_open(night, shanghai(12, 0))
    assert queue.next_opening(night, shanghai(12, 0)) == shanghai(22, 0)


def test_round_the_clock_hours_are_always_open(with_settings):
    from datetime import time

    always = with_settings(business_hours_start=time(0, 0), business_hours_end=time.max).settings
    assert all(queue.is_open(always, shanghai(hour, 59, 59)) for hour in range(24))


def test_a_ticket_is_filed_only_after_the_customer_agrees_and_writes_it(desk):
    conversation = desk.conversation(customer_id="demo-zhangsan")
    ticket = ask(desk, conversation).ticket
    assert queue.leave_message(desk.uow(), conversation_id=conversation, text="没人接", now=NOON) is None
    queue.accept_ticket(desk.uow(), conversation_id=conversation, ticket_id=ticket.id)
    assert queue.conversation_status(desk.uow(), conversation, now=NOON).writing_ticket_id == ticket.id
    filed = queue.leave_message(desk.uow(), conversation_id=conversation, text="钱被扣了，手机13812345678", now=NOON)
    assert filed.status == "open" and filed.text == "钱被扣了，手机138****5678"
    assert [t.id for t in queue.list_tickets(desk.uow())] == [ticket.id]


def test_a_ticket_offer_from_another_conversation_cannot_be_accepted(desk):
    mine, theirs = desk.conversation(), desk.conversation()
    ticket = ask(desk, theirs).ticket
    with pytest.raises(TicketNotFound):
        queue.accept_ticket(desk.uow(), conversation_id=mine, ticket_id=ticket.id)


def test_a_conversation_waiting_past_the_timeout_returns_to_the_bot_with_a_ticket_offer(desk):
    desk.agent("agent1")
    stale, fresh = desk.conversation(), desk.conversation()
    ask(desk, stale, now=NOON)
    ask(desk, fresh, now=NOON + timedelta(minutes=4))
    offers = queue.expire_waiting(desk.uow(), now=NOON + timedelta(seconds=desk.settings.queue_wait_timeout_s))
    assert [offer.conversation_id for offer in offers] == [stale]
    assert offers[0].status == "offered"
    assert state_of(desk, stale) == "bot" and state_of(desk, fresh) == "queued"
    assert queue.expire_waiting(desk.uow(), now=NOON + timedelta(minutes=10, seconds=1)) == []


def test_the_customer_can_leave_the_queue_while_waiting_but_not_once_assigned(desk):
    agent = desk.agent("agent1")
    waiting, served = desk.conversation(), desk.conversation()
    ask(desk, waiting)
    ask(desk, served)
    queue.claim(desk.uow(), conversation_id=served, agent_id=agent.id, now=NOON)
    assert queue.cancel_waiting(desk.uow(), conversation_id=waiting, now=NOON)
    assert not queue.cancel_waiting(desk.uow(), conversation_id=served, now=NOON)
    assert (state_of(desk, waiting), state_of(desk, served)) == ("bot", "assigned")


def test_transfer_hands_the_conversation_to_another_online_agent_with_room(desk):
    first, second = desk.agent("agent1"), desk.agent("agent2")
    conversation = desk.conversation()
    ask(desk, conversation)
    queue.claim(desk.uow(), conversation_id=conversation, agent_id=first.id, now=NOON)
    handoff = queue.transfer(desk.uow(), conversation_id=conversation, agent_id=first.id, to_username="agent2", now=NOON)
    assert handoff.agent.username == "agent2"
    with pytest.raises(NotYourConversation):
        queue.resolve(desk.uow(), conversation_id=conversation, agent_id=first.id, now=NOON)
    queue.resolve(desk.uow(), conversation_id=conversation, agent_id=second.id, now=NOON)


def test_transfer_is_refused_to_oneself_to_nobody_to_the_offline_and_to_the_full(desk):
    first = desk.agent("agent1")
    desk.agent("idle", online=False)
    full = desk.agent("full", capacity=1)
    busy, conversation = desk.conversation(), desk.conversation()
    for c in (busy, conversation):
        ask(desk, c)
    queue.claim(desk.uow(), conversation_id=busy, agent_id=full.id, now=NOON)
    queue.claim(desk.uow(), conversation_id=conversation, agent_id=first.id, now=NOON)
    for target, error in (("agent1", SameAgent), ("nobody", AgentNotFound), ("idle", AgentOffline), ("full", CapacityReached)):
        with pytest.raises(error):
            queue.transfer(desk.uow(), conversation_id=conversation, agent_id=first.id, to_username=target, now=NOON)


def test_only_the_assigned_agent_may_reply_take_notes_or_resolve(desk):
    owner, other = desk.agent("agent1"), desk.agent("agent2")
    conversation = desk.conversation()
    ask(desk, conversation)
    queue.claim(desk.uow(), conversation_id=conversation, agent_id=owner.id, now=NOON)
    with pytest.raises(NotYourConversation):
        queue.record_action(desk.uow(), conversation_id=conversation, agent_id=other.id, action="agent_message")
    with pytest.raises(NotYourConversation):
        queue.add_note(desk.uow(), conversation_id=conversation, agent_id=other.id, text="偷看")
    with pytest.raises(NotYourConversation):
        queue.ensure_can_view(desk.uow(), conversation_id=conversation, agent_id=other.id)
    note = queue.add_note(desk.uow(), conversation_id=conversation, agent_id=owner.id, text="客户身份证110101199003071234")
    assert note.text == "客户身份证110101********1234"
    assert [n.text for n in queue.list_notes(desk.uow(), conversation)] == [note.text]


def test_resolve_gives_the_conversation_back_to_the_bot_and_takes_one_rating(desk):
    agent = desk.agent("agent1")
    conversation = desk.conversation()
    ask(desk, conversation)
    queue.claim(desk.uow(), conversation_id=conversation, agent_id=agent.id, now=NOON)
    with pytest.raises(RatingRejected):
        queue.rate(desk.uow(), conversation_id=conversation, handoff_id=1, stars=5)  # not resolved yet
    handoff = queue.resolve(desk.uow(), conversation_id=conversation, agent_id=agent.id, now=NOON)
    assert state_of(desk, conversation) == "bot"
    assert queue.rate(desk.uow(), conversation_id=conversation, handoff_id=handoff.id, stars=4).rating == 4
    with pytest.raises(RatingRejected, match="already rated"):
        queue.rate(desk.uow(), conversation_id=conversation, handoff_id=handoff.id, stars=1)


@pytest.mark.parametrize("stars", [0, 6, -1])
def test_a_rating_outside_one_to_five_is_refused(desk, stars):
    with pytest.raises(RatingRejected):
        queue.rate(desk.uow(), conversation_id=desk.conversation(), handoff_id=1, stars=stars)


def test_another_conversation_cannot_rate_a_handoff(desk):
    agent = desk.agent("agent1")
    conversation, stranger = desk.conversation(), desk.conversation()
    ask(desk, conversation)
    queue.claim(desk.uow(), conversation_id=conversation, agent_id=agent.id, now=NOON)
    handoff = queue.resolve(desk.uow(), conversation_id=conversation, agent_id=agent.id, now=NOON)
    with pytest.raises(RatingRejected):
        queue.rate(desk.uow(), conversation_id=stranger, handoff_id=handoff.id, stars=5)


def test_signing_out_puts_the_agents_conversations_back_at_the_front_of_the_queue(desk):
    agent = desk.agent("agent1")
    desk.agent("agent2")
    served, later = desk.conversation(), desk.conversation()
    ask(desk, served, now=NOON)
    queue.claim(desk.uow(), conversation_id=served, agent_id=agent.id, now=NOON + timedelta(minutes=1))
    ask(desk, later, now=NOON + timedelta(minutes=2))
    assert queue.release_agent(desk.uow(), agent_id=agent.id, now=NOON + timedelta(minutes=3)) == [served]
    assert waiting_order(desk) == [served, later]
    # It waits afresh from the release, so it does not time out at once.
    assert queue.expire_waiting(desk.uow(), now=NOON + timedelta(minutes=9)) == []


def test_every_agent_action_is_in_the_audit_log(desk):
    agent = desk.agent("agent1")
    desk.agent("agent2")
    conversation = desk.conversation()
    ask(desk, conversation)
    queue.ensure_can_view(desk.uow(), conversation_id=conversation, agent_id=agent.id, now=NOON)
    queue.claim(desk.uow(), conversation_id=conversation, agent_id=agent.id, now=NOON)
    queue.record_action(desk.uow(), conversation_id=conversation, agent_id=agent.id, action="agent_message", now=NOON)
    queue.add_note(desk.uow(), conversation_id=conversation, agent_id=agent.id, text="需回访", now=NOON)
    queue.transfer(desk.uow(), conversation_id=conversation, agent_id=agent.id, to_username="agent2", now=NOON)
    with desk.session_factory() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.target == conversation).order_by(AuditEntry.id)).all()
    assert [(row.actor, row.action) for row in rows] == [
        ("agent:agent1", "conversation_viewed"),
        ("agent:agent1", "conversation_claimed"),
        ("agent:agent1", "agent_message"),
        ("agent:agent1", "note_added"),
        ("agent:agent1", "conversation_transferred"),
    ]
    assert rows[-1].details == {"to": "agent2"}


def test_an_agreed_ticket_left_unwritten_for_half_an_hour_no_longer_captures_messages(desk):
    conversation = desk.conversation()
    ticket = ask(desk, conversation).ticket
    queue.accept_ticket(desk.uow(), conversation_id=conversation, ticket_id=ticket.id)
    later = NOON + timedelta(seconds=queue.TICKET_WRITING_S + 1)
    assert queue.conversation_status(desk.uow(), conversation, now=later).writing_ticket_id is None
    assert queue.leave_message(desk.uow(), conversation_id=conversation, text="明天的问题", now=later) is None


def test_viewing_a_conversation_is_logged_once_per_ten_minutes(desk):
    agent = desk.agent("agent1")
    conversation = desk.conversation()
    ask(desk, conversation)
    for seconds in (0, 60, 599, 601):
        queue.ensure_can_view(desk.uow(), conversation_id=conversation, agent_id=agent.id, now=NOON + timedelta(seconds=seconds))
    with desk.session_factory() as session:
        views = session.scalars(select(AuditEntry.at).where(AuditEntry.target == conversation, AuditEntry.action == "conversation_viewed")).all()
    assert len(views) == 2
