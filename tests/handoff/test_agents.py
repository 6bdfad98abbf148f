"""Agent accounts and console sign-in: argon2 hashes, lockout, sessions, presence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.handoff import AgentExists, AgentInvalid, AgentLockedOut, LoginRejected, SessionInvalid
from bot.handoff.agents import add_agent, list_agents, login, logout, seed_demo_agents, session_agent, set_status
from bot.handoff.models import Agent, AgentSession
from bot.settings import SettingsError, load_settings
from bot.wallet.models import AuditEntry

from .conftest import NOON


def test_a_password_is_kept_only_as_an_argon2_hash(desk):
    add_agent(desk.uow(), username="agent1", password="agent1-pass", display_name="小王")
    with desk.session_factory() as session:
        row = session.scalars(select(Agent)).one()
    assert row.password_hash.startswith("$argon2id$") and "agent1-pass" not in row.password_hash
    assert (row.display_name, row.capacity, row.status) == ("小王", 3, "offline")


def test_usernames_are_unique_and_weak_passwords_are_refused(desk):
    add_agent(desk.uow(), username="agent1", password="agent1-pass")
    with pytest.raises(AgentExists):
        add_agent(desk.uow(), username="agent1", password="another-pass")
    with pytest.raises(AgentInvalid):
        add_agent(desk.uow(), username="agent2", password="short")
    with pytest.raises(AgentInvalid):
        add_agent(desk.uow(), username="Bad Name!", password="long-enough")


def test_the_demo_agent_is_seeded_once(desk):
    assert seed_demo_agents(desk.session_factory, desk.settings) is True
    assert seed_demo_agents(desk.session_factory, desk.settings) is False
    assert login(desk.uow(), username="agent1", password="agent1-pass", now=NOON).agent.name == "小王"


def test_signing_in_puts_the_agent_online_and_the_session_token_is_stored_only_as_a_hash(desk):
    add_agent(desk.uow(), username="agent1", password="agent1-pass")
    signed_in = login(desk.uow(), username="agent1", password="agent1-pass", now=NOON)
    agent, csrf = session_agent(desk.uow(), signed_in.session_token, now=NOON)
    assert agent.status == "online" and csrf == signed_in.csrf_token
    with desk.session_factory() as session:
        stored = session.scalars(select(AgentSession)).one()
    assert stored.token_hash != signed_in.session_token and len(stored.token_hash) == 64


def test_a_wrong_password_and_an_unknown_user_get_the_same_refusal(desk):
    add_agent(desk.uow(), username="agent1", password="agent1-pass")
    with pytest.raises(LoginRejected):
        login(desk.uow(), username="agent1", password="wrong-pass", now=NOON)
    with pytest.raises(LoginRejected):
        login(desk.uow(), username="nobody", password="wrong-pass", now=NOON)


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes_even_against_the_right_one(desk):
    add_agent(desk.uow(), username="agent1", password="agent1-pass")
    for _ in range(4):
        with pytest.raises(LoginRejected):
            login(desk.uow(), username="agent1", password="wrong-pass", now=NOON)
    with pytest.raises(AgentLockedOut) as locked:
        login(desk.uow(), username="agent1", password="wrong-pass", now=NOON)
    assert locked.value.until == NOON + timedelta(minutes=15)
    with pytest.raises(AgentLockedOut):
        login(desk.uow(), username="agent1", password="agent1-pass", now=NOON + timedelta(minutes=14))
    assert login(desk.uow(), username="agent1", password="agent1-pass", now=NOON + timedelta(minutes=15)).agent.username == "agent1"
    with desk.session_factory() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target == "agent:agent1").order_by(AuditEntry.id)).all()
    assert actions == ["agent_added"] + ["agent_login_failed"] * 4 + ["agent_locked_out", "agent_login_refused", "agent_login"]


def test_a_right_password_resets_the_failure_count(desk):
    add_agent(desk.uow(), username="agent1", password="agent1-pass")
    for _ in range(4):
        with pytest.raises(LoginRejected):
            login(desk.uow(), username="agent1", password="wrong-pass", now=NOON)
    login(desk.uow(), username="agent1", password="agent1-pass", now=NOON)
    with pytest.raises(LoginRejected):
        login(desk.uow(), username="agent1", password="wrong-pass", now=NOON)


def test_expired_forged_and_signed_out_sessions_are_refused(desk):
    add_agent(desk.uow(), username="agent1", password="agent1-pass")
    signed_in = login(desk.uow(), username="agent1", password="agent1-pass", now=NOON)
    with pytest.raises(SessionInvalid):
        session_agent(desk.uow(), signed_in.session_token, now=NOON + timedelta(seconds=desk.settings.agent_session_ttl_s))
    with pytest.raises(SessionInvalid):
        session_agent(desk.uow(), "forged-" + signed_in.session_token, now=NOON)
    with pytest.raises(SessionInvalid):
        session_agent(desk.uow(), None, now=NOON)
    assert logout(desk.uow(), signed_in.session_token, now=NOON).status == "offline"
    with pytest.raises(SessionInvalid):
        session_agent(desk.uow(), signed_in.session_token, now=NOON)


def test_presence_follows_status_and_recent_activity(desk):
    agent = add_agent(desk.uow(), username="agent1", password="agent1-pass")
    login(desk.uow(), username="agent1", password="agent1-pass", now=NOON)
    assert [load.online for load in list_agents(desk.uow(), now=NOON)] == [True]
    assert [load.online for load in list_agents(desk.uow(), now=NOON + timedelta(minutes=6))] == [False]
    set_status(desk.uow(), agent_id=agent.id, status="offline", now=NOON)
    assert [load.online for load in list_agents(desk.uow(), now=NOON)] == [False]


def test_business_hours_come_from_one_setting():
    settings = load_settings({"WALLETBOT_SECRET": "x" * 40, "WALLETBOT_BUSINESS_HOURS": "08:30-22:00"})
    assert (f"{settings.business_hours_start:%H:%M}", f"{settings.business_hours_end:%H:%M}") == ("08:30", "22:00")
    default = load_settings({"WALLETBOT_SECRET": "x" * 40})
    assert (f"{default.business_hours_start:%H:%M}", f"{default.business_hours_end:%H:%M}", default.queue_wait_timeout_s) == ("09:00", "21:00", 600)
    for bad in ("9点到21点", "09:00-09:00", "25:00-26:00"):
        with pytest.raises(SettingsError):
            load_settings({"WALLETBOT_SECRET": "x" * 40, "WALLETBOT_BUSINESS_HOURS": bad})
