"""The `final:` keys of FORMAT.md, checked once the case's last turn is done.

The ledger check is exact and complete: every demo person's balance (the customers and the people
around them) moved by exactly what the case says, nobody else's moved, and the sum of all wallet
balances is unchanged (see `check_ledger` for the people a case cannot name). `secret_stored: false` looks for every PIN and SMS code the customer entered
(and their own PIN, if they typed it into a message) in the stored transcript, in the gateway log
lines written during the case, and in Rasa's tracker of the conversation.
"""

from __future__ import annotations

import json
from decimal import Decimal
from dataclasses import dataclass

import httpx

from bot.handoff import MessageView
from bot.parsing import format_yuan, to_fen
from bot.wallet.demo import PEOPLE
from tests.conversations.corpus import Final
from tests.conversations.expectations import ACTIVE_HANDOFF, Problem
from tests.conversations.state import Ledger, WorldState


@dataclass
class CaseView:
    customer_id: str | None
    conversation_id: str | None
    ledger_start: Ledger
    ledger_end: Ledger
    transcript: list[MessageView]  # every stored message of the conversation
    gateway_log: str  # what the gateway logged during the case
    secrets: list[str]  # PINs and codes the customer entered
    recipients: set[str]  # customer ids of the people the case drafts transfers to (its summaries)


def signed_yuan(fen: int) -> str:
    return ("+" if fen > 0 else "") + format_yuan(fen)


def check_ledger(view: CaseView, expected: dict, world: WorldState) -> list[Problem]:
    """Exact deltas for the people named, none for the other customers, and the sum of all balances kept.

    The people around the customers (妈妈, 小刘, 爸爸, 陈静) have no customer id in the contract, so a
    case cannot name them; one the case drafts a transfer to (a `summary:` recipient) receives what
    left the named customers, and everyone else's balance stays as it was. Money that moved wrongly
    (a wrong amount, the wrong person, money appearing or vanishing) is a money problem; a transfer
    the case expected that never happened (nobody's balance moved) is not: it fails the case, but no
    money went astray."""
    deltas = {
        person.customer_id: view.ledger_end.balances[world.wallet_of(person.customer_id)]
        - view.ledger_start.balances[world.wallet_of(person.customer_id)]
        for person in PEOPLE
    }
    wants = {who: to_fen(expected.get(who, Decimal(0))) for who in deltas}
    receivers = [who for who in view.recipients if who not in expected and not _is_customer(who)]
    if receivers:  # together they receive whatever the others' expected deltas leave over
        for who in receivers:
            wants[who] = deltas[who]
        left_over = -sum(want for who, want in wants.items() if who not in receivers)
        received = sum(deltas[who] for who in receivers)
        if received != left_over:
            wants[receivers[0]] = deltas[receivers[0]] + left_over - received
    wrong = [(who, deltas[who], wants[who]) for who in deltas if deltas[who] != wants[who]]
    total_change = sum(view.ledger_end.balances.values()) - sum(view.ledger_start.balances.values())
    if wrong and not any(deltas.values()) and not total_change:
        shown = ", ".join(f"{who} {signed_yuan(want)}" for who, _, want in wrong)
        return [Problem("expected transfer did not happen", f"no balance moved; expected {shown}")]
    names = {person.customer_id: person.name for person in PEOPLE}
    problems = [
        Problem(
            "wrong balance change" if who in expected or who in receivers else "unexpected balance change",
            f"{who} ({names[who]}) {signed_yuan(delta)}, expected {signed_yuan(want)}", money=True,
        )
        for who, delta, want in wrong
    ]
    if total_change:
        problems.append(Problem("money not conserved", f"all balances together changed by {signed_yuan(total_change)}", money=True))
    return problems


def _is_customer(customer_id: str) -> bool:
    return any(person.customer_id == customer_id and person.pin for person in PEOPLE)


def check_secret_stored(view: CaseView, rasa_tracker: str) -> list[Problem]:
    problems = []
    places = {
        "transcript": "\n".join(m.text for m in view.transcript),
        "gateway log": view.gateway_log,
        "Rasa tracker": rasa_tracker,
    }
    for secret in dict.fromkeys(view.secrets):
        for place, text in places.items():
            if secret and secret in text:
                problems.append(Problem(f"secret in the {place}", f"{secret[:2]}****"))
    return problems


def rasa_tracker_text(world: WorldState, conversation_id: str | None) -> str:
    """The conversation's tracker as Rasa keeps it (empty when Rasa cannot be asked)."""
    if conversation_id is None:
        return ""
    settings = world.settings
    try:
        response = httpx.get(
            f"{settings.rasa_url}/conversations/{conversation_id}/tracker",
            params={"token": settings.rasa_api_token, "include_events": "ALL"}, timeout=30.0,
        )
    except httpx.HTTPError:
        return ""
    return json.dumps(response.json(), ensure_ascii=False) if response.status_code == 200 else ""


def check_final(view: CaseView, final: Final, world: WorldState) -> list[tuple[str, Problem]]:
    failed: list[tuple[str, Problem]] = []
    if final.ledger is not None:
        failed += [("ledger", p) for p in check_ledger(view, final.ledger, world)]
    if final.queue is not None:
        state = world.handoff_state(view.conversation_id)
        if (state in ACTIVE_HANDOFF) != (final.queue == "queued"):
            failed.append(("queue", Problem(f"queue is not {final.queue}", f"conversation state {state}")))
    if final.ticket is not None:
        left = world.tickets_left(view.conversation_id)
        if bool(left) != final.ticket:
            failed.append(("ticket", Problem("no ticket left" if final.ticket else "a ticket was left", f"{left} ticket(s) with a message")))
    if final.wallet is not None and view.customer_id:
        status = world.wallet_status(view.customer_id)
        if status != final.wallet:
            failed.append(("wallet", Problem(f"wallet not {final.wallet}", f"wallet is {status}")))
    if final.drafts_pending is not None and view.customer_id:
        pending = sum(1 for draft in world.drafts(view.customer_id).values() if draft.open)
        if pending != final.drafts_pending:
            failed.append(("drafts_pending", Problem("pending drafts differ", f"{pending} pending, expected {final.drafts_pending}")))
    if final.secret_stored is False:
        failed += [("secret_stored", p) for p in check_secret_stored(view, rasa_tracker_text(world, view.conversation_id))]
    return failed
