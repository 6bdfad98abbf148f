"""Agents: accounts, console sign-in (argon2 hashes, lockout, sessions with a CSRF token), presence.

    add_agent(uow, username="agent1", password="…", display_name="小王")
    signed_in = login(uow, username="agent1", password="…")   # → session token + CSRF token
    agent, csrf = session_agent(uow, signed_in.session_token)  # every console request

An agent counts as online when their status is `online` and the console was seen within
`PRESENCE_S` (a closed laptop stops counting after a few minutes). Every sign-in event goes to the
audit log (`actor` = `agent:<username>`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.handoff.errors import AgentExists, AgentInvalid, AgentLockedOut, AgentNotFound, LoginRejected, SessionInvalid
from bot.handoff.models import Agent, AgentSession, Handoff
from bot.settings import Settings
from bot.wallet.models import AuditEntry
from bot.wallet.uow import SqlAlchemyUnitOfWork, UnitOfWork

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
DISPLAY_NAME_CHARS_MAX = 16
PASSWORD_CHARS_MIN = 8
PASSWORD_CHARS_MAX = 128
AGENT_CAPACITY_DEFAULT = 3
AGENT_CAPACITY_MAX = 20
PRESENCE_S = 300
PRESENCE_TOUCH_S = 30
STATUSES = ("online", "offline")
DEMO_AGENTS = (("agent1", "agent1-pass", "小王"),)


@dataclass(frozen=True)
class AgentView:
    id: int
    username: str
    name: str
    status: str
    capacity: int


@dataclass(frozen=True)
class SignedIn:
    agent: AgentView
    session_token: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class AgentLoad:
    agent: AgentView
    online: bool
    serving: int


def utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("pass an aware datetime")
    return now.astimezone(timezone.utc)


def actor(username: str) -> str:
    return f"agent:{username}"


def audit(session: Session, *, actor: str, action: str, target: str, details: dict | None = None, now: datetime) -> None:
    """One line in the shared audit log (the wallet's table): who did what to which conversation."""
    session.add(AuditEntry(at=now, actor=actor[:64], action=action[:32], target=target[:64], details=details or {}))


def agent_view(row: Agent) -> AgentView:
    return AgentView(row.id, row.username, row.display_name, row.status, row.capacity)


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def _password_hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.pin_hash_time_cost, settings.pin_hash_memory_kib, settings.pin_hash_parallelism)


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash("not-a-password")


def _password_matches(settings: Settings, password_hash: str | None, password: str) -> bool:
    """Slow on purpose; an unknown user costs the same time as a wrong password."""
    hasher = _password_hasher(settings)
    if password_hash is None:
        password_hash = _dummy_hash(settings.pin_hash_time_cost, settings.pin_hash_memory_kib, settings.pin_hash_parallelism)
        try:
            hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_new_agent(username: str, password: str, display_name: str, capacity: int) -> None:
    if not USERNAME.match(username):
        raise AgentInvalid("用户名只能包含小写字母、数字和 _ . -，2 到 32 个字符")
    if not display_name or len(display_name) > DISPLAY_NAME_CHARS_MAX:
        raise AgentInvalid(f"显示名需要 1 到 {DISPLAY_NAME_CHARS_MAX} 个字")
    if not PASSWORD_CHARS_MIN <= len(password) <= PASSWORD_CHARS_MAX:
        raise AgentInvalid(f"密码需要 {PASSWORD_CHARS_MIN} 到 {PASSWORD_CHARS_MAX} 个字符")
    if not 1 <= capacity <= AGENT_CAPACITY_MAX:
        raise AgentInvalid(f"接待上限需要在 1 到 {AGENT_CAPACITY_MAX} 之间")


def add_agent(
    uow: UnitOfWork,
    *,
    username: str,
    password: str,
    display_name: str | None = None,
    capacity: int = AGENT_CAPACITY_DEFAULT,
    now: datetime | None = None,
) -> AgentView:
    at = utc(now)
    display_name = (display_name or username).strip()
    _check_new_agent(username, password, display_name, capacity)
    password_hash = _password_hasher(uow.settings).hash(password)
    with uow:
        if uow.session.scalar(select(Agent.id).where(Agent.username == username)) is not None:
            raise AgentExists(username)
        row = Agent(
            username=username, display_name=display_name, password_hash=password_hash, status="offline",
            capacity=capacity, failed_logins=0, created_at=at,
        )
        uow.session.add(row)
        uow.session.flush()
        audit(uow.session, actor="cli", action="agent_added", target=actor(username), details={"capacity": capacity}, now=at)
        view = agent_view(row)
        uow.commit()
        return view


def seed_demo_agents(session_factory, settings: Settings | None = None) -> bool:
    """The demo agent `agent1` / `agent1-pass` (小王). Idempotent: False when it already exists."""
    created = False
    for username, password, name in DEMO_AGENTS:
        try:
            add_agent(SqlAlchemyUnitOfWork(session_factory, settings=settings), username=username, password=password, display_name=name)
            created = True
        except AgentExists:
            pass
    return created


def login(uow: UnitOfWork, *, username: str, password: str, now: datetime | None = None) -> SignedIn:
    """Check the password; on success open a session and put the agent online.

    `agent_login_attempts_max` wrong passwords in a row lock the account for `agent_lockout_s`;
    while locked even the right password is refused.
    """
    at = utc(now)
    settings = uow.settings
    with uow:
        session = uow.session
        row = session.scalars(select(Agent).where(Agent.username == username)).one_or_none() if USERNAME.match(username or "") else None
        if row is not None and row.locked_until is not None and row.locked_until > at:
            audit(session, actor=actor(row.username), action="agent_login_refused", target=actor(row.username), details={"locked": True}, now=at)
            uow.commit()
            raise AgentLockedOut(row.locked_until)
        if not _password_matches(settings, row.password_hash if row else None, password or ""):
            if row is None:
                raise LoginRejected()
            row.failed_logins += 1
            details = {"failed_logins": row.failed_logins}
            if row.failed_logins >= settings.agent_login_attempts_max:
                row.failed_logins, row.locked_until = 0, at + timedelta(seconds=settings.agent_lockout_s)
                audit(session, actor=actor(row.username), action="agent_locked_out", target=actor(row.username), details=details, now=at)
                uow.commit()
                raise AgentLockedOut(row.locked_until)
            audit(session, actor=actor(row.username), action="agent_login_failed", target=actor(row.username), details=details, now=at)
            uow.commit()
            raise LoginRejected()
        if _password_hasher(settings).check_needs_rehash(row.password_hash):
            row.password_hash = _password_hasher(settings).hash(password)
        row.failed_logins, row.locked_until = 0, None
        row.status, row.last_seen_at = "online", at
        session.execute(delete(AgentSession).where(AgentSession.agent_id == row.id, AgentSession.expires_at <= at))
        token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires_at = at + timedelta(seconds=settings.agent_session_ttl_s)
        session.add(AgentSession(token_hash=_token_hash(token), agent_id=row.id, csrf_token=csrf_token, created_at=at, expires_at=expires_at))
        audit(session, actor=actor(row.username), action="agent_login", target=actor(row.username), now=at)
        view = agent_view(row)
        uow.commit()
        return SignedIn(view, token, csrf_token, expires_at)


def session_agent(uow: UnitOfWork, token: str | None, *, now: datetime | None = None) -> tuple[AgentView, str]:
    """The agent behind a session cookie and the session's CSRF token; refreshes presence."""
    at = utc(now)
    if not token or len(token) > 128:
        raise SessionInvalid()
    with uow:
        session = uow.session
        found = session.execute(
            select(AgentSession, Agent).join(Agent, Agent.id == AgentSession.agent_id).where(AgentSession.token_hash == _token_hash(token))
        ).first()
        if found is None or found[0].expires_at <= at:
            raise SessionInvalid()
        agent_session, row = found
        if row.last_seen_at is None or (at - row.last_seen_at).total_seconds() >= PRESENCE_TOUCH_S:
            row.last_seen_at = at
            uow.commit()
        return agent_view(row), agent_session.csrf_token


def logout(uow: UnitOfWork, token: str, *, now: datetime | None = None) -> AgentView | None:
    """End the session and put the agent offline (their open conversations are released by the queue)."""
    at = utc(now)
    with uow:
        session = uow.session
        agent_session = session.get(AgentSession, _token_hash(token or ""))
        if agent_session is None:
            return None
        row = session.get(Agent, agent_session.agent_id)
        session.delete(agent_session)
        row.status = "offline"
        audit(session, actor=actor(row.username), action="agent_logout", target=actor(row.username), now=at)
        view = agent_view(row)
        uow.commit()
        return view


def set_status(uow: UnitOfWork, *, agent_id: int, status: str, now: datetime | None = None) -> AgentView:
    at = utc(now)
    if status not in STATUSES:
        raise AgentInvalid("状态只能是 online 或 offline")
    with uow:
        row = uow.session.get(Agent, agent_id)
        if row is None:
            raise AgentNotFound(str(agent_id))
        row.status, row.last_seen_at = status, at
        audit(uow.session, actor=actor(row.username), action="agent_status", target=actor(row.username), details={"status": status}, now=at)
        view = agent_view(row)
        uow.commit()
        return view


def touch(uow: UnitOfWork, *, agent_id: int, now: datetime | None = None) -> None:
    """The console is still open (the live event stream calls this now and then)."""
    at = utc(now)
    with uow:
        row = uow.session.get(Agent, agent_id)
        if row is not None:
            row.last_seen_at = at
            uow.commit()


def is_online(row: Agent, at: datetime) -> bool:
    return row.status == "online" and row.last_seen_at is not None and (at - row.last_seen_at).total_seconds() < PRESENCE_S


def online_agent_count(session: Session, at: datetime) -> int:
    return int(
        session.scalar(
            select(func.count(Agent.id)).where(Agent.status == "online", Agent.last_seen_at > at - timedelta(seconds=PRESENCE_S))
        )
        or 0
    )


def list_agents(uow: UnitOfWork, *, now: datetime | None = None) -> list[AgentLoad]:
    """Every agent with presence and how many conversations each serves now (for transfers)."""
    at = utc(now)
    with uow:
        serving = dict(
            uow.session.execute(
                select(Handoff.agent_id, func.count(Handoff.id)).where(Handoff.status == "assigned").group_by(Handoff.agent_id)
            ).all()
        )
        rows = uow.session.scalars(select(Agent).order_by(Agent.username)).all()
        return [AgentLoad(agent_view(row), is_online(row, at), int(serving.get(row.id, 0))) for row in rows]
