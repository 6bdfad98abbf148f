"""What must hold after the soak, whatever was killed when (the Jepsen bank test's checker, for us).

Each check returns a `Check`: its name, whether it held, its figures and up to 20 examples of what
broke it. They read the ledger and the conversations through the read-only views of
tests/conversations/state.py, compare them with what the customers saw (workload.Journal), and grep
every file of the stack's work directory and every row of its PostgreSQL databases for the PINs.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import create_engine, func, inspect, select

from bot.db import normalize_url, read_only_session
from bot.handoff.models import Agent, ChatMessage, Conversation, Handoff
from bot.wallet import LedgerCorrupted, SqlAlchemyUnitOfWork, total_balance_fen, verify_ledger
from bot.wallet.models import Transfer, TransferDraft, Wallet
from tests.soak.chaos import Kill
from tests.soak.stack import SoakCustomer, SoakStack
from tests.soak.workload import TURN_TIMEOUT_S, Journal

EXAMPLES_MAX = 20
MESSENGERS = ("telegram", "wechat")  # channels whose inbound messages the inbox keeps until answered
GRACE_S = 2.0  # around a gateway's downtime: the request in flight when it died, the first after it came back


@dataclass
class Check:
    name: str
    ok: bool
    figures: dict = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def line(self) -> str:
        figures = ", ".join(f"{k} {v}" for k, v in self.figures.items())
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}" + (f" ({figures})" if figures else "")


def _examples(items) -> list[str]:
    return [str(item) for item in list(items)[:EXAMPLES_MAX]]


class Windows:
    """When the gateway was down: from each of its kills until it answered again (or the end)."""

    def __init__(self, kills: list[Kill], end_s: float) -> None:
        self.spans = [(k.at, k.back_at if k.back_at is not None else end_s) for k in kills if k.kind == "gateway" and k.at is not None]

    def excuse(self, start_s: float, end_s: float) -> bool:
        return any(start_s - GRACE_S <= back and kill <= end_s + GRACE_S for kill, back in self.spans)


def conservation(stack: SoakStack, total_before_fen: int) -> Check:
    uow = SqlAlchemyUnitOfWork(stack.world.sessions, settings=stack.settings, read_only=True)
    total_after = total_balance_fen(uow)
    try:
        report = verify_ledger(SqlAlchemyUnitOfWork(stack.world.sessions, settings=stack.settings, read_only=True))
        ledger_ok, detail = True, str(report)
    except LedgerCorrupted as exc:
        ledger_ok, detail = False, str(exc)
    ok = ledger_ok and total_after == total_before_fen
    return Check("conservation: customer balances sum to the same fen; verify_ledger holds", ok,
                 {"total_before_fen": total_before_fen, "total_after_fen": total_after}, [] if ok else [detail])


def no_overdraft(stack: SoakStack) -> Check:
    with read_only_session(stack.world.sessions) as session:
        negative = session.execute(select(Wallet.id, Wallet.balance_fen).where(Wallet.kind == "customer", Wallet.balance_fen < 0)).all()
        lowest = session.scalar(select(func.min(Wallet.balance_fen)).where(Wallet.kind == "customer"))
    return Check("no overdraft: no customer wallet below zero", not negative, {"lowest_balance_fen": lowest}, _examples(negative))


def transfers_as_seen(stack: SoakStack, customers: list[SoakCustomer], journal: Journal) -> tuple[Check, Check, dict]:
    """Every transfer out of a soak wallet is a summary the customer confirmed, for exactly the amount
    its text showed; every receipt the customer saw is a transfer; nothing corrected or cancelled moved."""
    ids = {c.customer_id for c in customers}
    with read_only_session(stack.world.sessions) as session:
        wallets = dict(session.execute(select(Wallet.customer_id, Wallet.id).where(Wallet.customer_id.in_(ids))).all())
        moved = session.execute(
            select(Transfer.id, Transfer.source_wallet_id, Transfer.amount_fen)
            .where(Transfer.kind == "transfer", Transfer.source_wallet_id.in_(list(wallets.values())))
        ).all()
        drafts = {row.id: row for row in session.scalars(select(TransferDraft).where(TransferDraft.customer_id.in_(ids)))}
    summaries = journal.summaries
    wrong: list[str] = []
    for transfer_id, source, amount_fen in moved:
        seen = summaries.get(transfer_id)
        if seen is None:
            wrong.append(f"transfer {transfer_id} of {amount_fen} fen: no summary the customer saw")
        elif not seen.pin_sent:
            wrong.append(f"transfer {transfer_id}: the customer never sent the PIN for it ({seen.fate})")
        elif seen.seen_fen != amount_fen:
            wrong.append(f"transfer {transfer_id}: {amount_fen} fen moved, the summary showed {seen.seen_fen}")
        elif wallets.get(seen.customer_id) != source:
            wrong.append(f"transfer {transfer_id}: out of wallet {source}, not {seen.customer_id}'s")
    executed = {row[0] for row in moved}
    for draft_id, seen in summaries.items():
        if seen.receipt_fen is not None and draft_id not in executed:
            wrong.append(f"draft {draft_id}: the customer saw a receipt of {seen.receipt_fen} fen and nothing moved")
        if seen.receipt_fen is not None and seen.receipt_fen != seen.seen_fen:
            wrong.append(f"draft {draft_id}: the receipt said {seen.receipt_fen} fen, the summary {seen.seen_fen}")
        if seen.fate in ("corrected", "cancelled") and draft_id in executed:
            wrong.append(f"draft {draft_id} was {seen.fate} and still executed")
        row = drafts.get(draft_id)
        if row is not None and row.status == "executed" and row.transfer_id != draft_id:
            wrong.append(f"draft {draft_id} executed as transfer {row.transfer_id}")
    executed_drafts = [row for row in drafts.values() if row.status == "executed"]
    if len(executed_drafts) != len(executed):
        wrong.append(f"{len(executed_drafts)} executed drafts, {len(executed)} transfers")
    confirmed = [s for s in summaries.values() if s.pin_sent]
    figures = {
        "transfers": len(executed),
        "confirmed": len(confirmed),
        "receipts_seen": sum(1 for s in summaries.values() if s.receipt_fen is not None),
        "confirmed_not_executed": sum(1 for s in confirmed if s.draft_id not in executed),
        "moved_fen": sum(row[2] for row in moved),
    }
    exactly = Check("every confirmed transfer executed exactly once, for the amount the customer saw (to the fen)",
                    not wrong, figures, _examples(wrong))
    misread = [f"draft {s.draft_id}: asked {s.asked_fen} fen, summary showed {s.seen_fen}"
               for s in summaries.values() if s.seen_fen != s.asked_fen]
    shown = Check("each summary shows the amount the customer typed", not misread,
                  {"summaries": len(summaries)}, _examples(misread))
    return exactly, shown, figures


PIN_CONTEXT = 40
# Around a six-digit run: the characters of identifiers, hashes, signatures and numbers. A PIN inside a
# longer such token (a hex draft id, a base64 signature) or after "1." / "03:32:53." (a fraction, a
# time) is a coincidence of digits, not a stored PIN; the PIN alone, in a sentence, after "密码:" is one.
TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_.:-]")
TOKEN_MIN_CHARS = 16


def _pattern(pins: dict[str, str]) -> re.Pattern[str]:
    return re.compile(r"(?<![0-9])(" + "|".join(re.escape(p) for p in pins) + r")(?![0-9])")


def leaked_pins(text: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(PIN, context) of each PIN stored in `text`."""
    found = []
    for match in pattern.finditer(text):
        start, end = match.start(), match.end()
        while start > 0 and TOKEN_CHARS.match(text[start - 1]):
            start -= 1
        while end < len(text) and TOKEN_CHARS.match(text[end]):
            end += 1
        token = text[start:end]
        if token != match[1] and (len(token) >= TOKEN_MIN_CHARS or re.search(r"[0-9][.:]" + match[1], token)):
            continue
        found.append((match[1], text[max(match.start() - PIN_CONTEXT, 0):match.end() + PIN_CONTEXT]))
    return found


def no_pin_stored(stack: SoakStack, customers: list[SoakCustomer]) -> Check:
    """Every text value of every SQLite database the stack wrote (ledger, Rasa's tracker), the raw
    bytes of those files (deleted rows linger in free pages), every log and other file, and every row
    of its PostgreSQL ledger schema and tracker database, searched for each customer's PIN."""
    pins = {c.pin: c.customer_id for c in customers}
    pattern = _pattern(pins)
    found: list[str] = []
    files = [path for path in stack.workdir.rglob("*") if path.is_file()]
    values = 0
    for path in files:
        name = str(path.relative_to(stack.workdir))
        for pin, context in leaked_pins(path.read_bytes().decode(errors="replace"), pattern):
            found.append(f"{name}: {pins[pin]}'s PIN in …{context!r}…")
        if path.suffix == ".db":
            for table, text in _sqlite_texts(path):
                values += 1
                found += [f"{name} {table}: {pins[pin]}'s PIN in …{context!r}…" for pin, context in leaked_pins(text, pattern)]
    rows = 0
    if stack.databases is not None:
        env = stack.databases.env("redis://unused")
        for url, schema in ((normalize_url(env["DATABASE_URL"]), stack.databases.schema), (env["TRACKER_STORE_URL"], "public")):
            hits, count = _grep_postgres(url, schema, pattern, pins)
            found += hits
            rows += count
    return Check("no PIN stored: database tables, Rasa's tracker store, log files", not found,
                 {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "sqlite_text_values": values,
                  "postgres_rows": rows, "pins": len(pins)}, _examples(found))


def _sqlite_texts(path):
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode(errors="replace")
                    if isinstance(value, str):
                        yield table, value
    finally:
        connection.close()


def _grep_postgres(url: str, schema: str, pattern: re.Pattern[str], pins: dict[str, str]) -> tuple[list[str], int]:
    from sqlalchemy import text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url)
    hits, rows = [], 0
    try:
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names(schema=schema):
                for (row,) in connection.execute(text(f'SELECT CAST(t AS text) FROM "{schema}"."{table}" AS t')):
                    rows += 1
                    hits += [f"postgres {schema}.{table}: {pins[pin]}'s PIN in {context!r}" for pin, context in leaked_pins(row, pattern)]
    finally:
        engine.dispose()
    return hits, rows


def nothing_stranded(stack: SoakStack, customers: list[SoakCustomer], journal: Journal, kills: list[Kill],
                     wall_t0: datetime, end_s: float) -> Check:
    """Nobody waits past the queue timeout with no agent to come, and every customer message of a
    running bot is answered within 30 s (client side: every request; server side: every stored message)."""
    windows = Windows(kills, end_s)
    problems: list[str] = []
    timeout_s = stack.settings.queue_wait_timeout_s
    now = datetime.now(wall_t0.tzinfo)
    with read_only_session(stack.world.sessions) as session:
        online = {row.id for row in session.scalars(select(Agent).where(Agent.status == "online"))}
        for handoff in session.scalars(select(Handoff).where(Handoff.status.in_(("queued", "assigned")))):
            since = handoff.assigned_at if handoff.status == "assigned" and handoff.assigned_at else handoff.enqueued_at
            age_s = (now - since).total_seconds()
            nobody = not online if handoff.status == "queued" else handoff.agent_id not in online
            if age_s > timeout_s and (nobody or handoff.status == "queued"):
                problems.append(f"conversation {handoff.conversation_id} {handoff.status} for {age_s:.0f} s "
                                f"({'nobody online' if nobody else 'past the timeout'})")
        ids = {c.customer_id for c in customers}
        conversations = session.execute(
            select(Conversation.id, Conversation.customer_id, Conversation.channel).where(Conversation.customer_id.in_(ids))
        ).all()
        unanswered_stored = 0
        lost_in_kills: Counter = Counter()  # web: stored, then the gateway died before answering (excused, but counted)
        with_agent: dict[str, list[tuple[datetime, datetime]]] = {}  # an agent, not the bot, owes these answers
        for row in session.scalars(select(Handoff).where(Handoff.assigned_at.is_not(None))):
            with_agent.setdefault(row.conversation_id, []).append((row.assigned_at, row.closed_at or now))
        for conversation_id, customer_id, channel in conversations:
            messages = session.execute(
                select(ChatMessage.sender, ChatMessage.created_at).where(ChatMessage.conversation_id == conversation_id).order_by(ChatMessage.id)
            ).all()
            for n, (sender, created_at) in enumerate(messages):
                if sender != "customer" or any(start <= created_at <= end for start, end in with_agent.get(conversation_id, ())):
                    continue
                at_s = (created_at - wall_t0).total_seconds()
                if at_s < 0 or at_s > end_s - TURN_TIMEOUT_S:
                    continue
                answer = next((m for m in messages[n + 1:] if m[0] != "customer"), None)
                answered_s = (answer[1] - created_at).total_seconds() if answer else None
                late = answered_s is None or answered_s > TURN_TIMEOUT_S
                # A messenger's message the gateway took is in the inbox: a kill may delay its answer, never lose it.
                lost = answered_s is None and channel in MESSENGERS
                if late and not lost and windows.excuse(at_s, at_s + TURN_TIMEOUT_S):
                    lost_in_kills[channel] += 1
                elif late:
                    unanswered_stored += 1
                    problems.append(f"{customer_id}: a message stored at {at_s:.1f} s "
                                    + ("never answered" if answered_s is None else f"answered after {answered_s:.0f} s"))
    unanswered_requests = 0
    excused: Counter = Counter()
    for action in journal.actions:
        if action.answered and not action.broken:
            continue
        if windows.excuse(action.started_at, action.started_at + max(action.elapsed_s, 0.0)):
            excused[action.channel] += 1
            continue
        unanswered_requests += 1
        problems.append(f"{action.customer_id} on {action.channel}: {action.kind} at {action.started_at:.1f} s "
                        f"{'could not reach the gateway' if action.broken else 'got no answer'} ({action.error or 'empty'}) with the gateway up")
    return Check("no conversation stranded: none queued or assigned with nobody online past the timeout, no message unanswered 30 s",
                 not problems, {"unanswered_requests": unanswered_requests, "unanswered_stored_messages": unanswered_stored,
                                "unanswered_while_the_gateway_was_down": dict(excused),
                                "stored_and_lost_with_a_gateway_kill": dict(lost_in_kills),
                                "agents_online_at_end": len(online)}, _examples(problems))


def no_server_errors(journal: Journal) -> Check:
    errors = [a for a in journal.actions if a.status is not None and a.status >= 500]
    return Check("no 5xx answer", not errors, {"requests": len(journal.actions)},
                 _examples(f"{a.customer_id} {a.kind} at {a.started_at:.1f} s: {a.error}" for a in errors))


def replays_processed_once(journal: Journal) -> Check:
    again = [r for r in journal.replays if r.processed_again]
    return Check("every replayed update_id / MsgId processed once", not again,
                 {"replayed_ids": sum(1 for r in journal.replays if r.processed_again is not None)},
                 _examples(f"{r.customer_id} {r.kind} at {r.at:.1f} s answered again" for r in again))


def customers_noticed_nothing(journal: Journal, crashed: list[str]) -> Check:
    problems = journal.problems + crashed
    return Check("customers saw nothing wrong on the way (PIN asked for the draft shown, SMS code sent)", not problems,
                 {}, _examples(problems))
