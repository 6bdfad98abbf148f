"""Amounts written the way customers write them, played through the real stack on all three channels.

The parser's sweep (tests/parsing/test_amount_properties.py) reads 2,000 amounts in every form; here a
seeded sample of `CASES` of those renderings goes through the gateway, Rasa and the action server, a
third each on web chat, Telegram and WeChat, from a fresh demo world each. For every one the customer
must end up with: a summary naming exactly that amount (never a question back), one open draft of
exactly that amount for the named saved recipient, and — after 确认转账, the PIN and, from ¥5,000, the
SMS code — the ledger moving exactly that amount from 张三 to that recipient and nothing else.
"""

from __future__ import annotations

import itertools
import random
import uuid

import pytest

from bot.parsing import format_yuan
from bot.wallet import SqlAlchemyUnitOfWork, resolve_recipient, settlement_wallet_id, transfer
from tests.conversations.channels import open_channel
from tests.conversations.presses import Target, is_confirm
from tests.parsing.test_amount_properties import FAMILIES, SEED, renderings

pytestmark = pytest.mark.e2e

CASES = 105  # the issue asks for at least 100
CUSTOMER, PIN = "demo-zhangsan", "246810"
SENTENCES = {  # 张三's saved recipients, named inside the request
    "李四": ["给李四转{}", "帮我给李四打{}过去", "{}转给李四"],
    "王五": ["给王五转{}吧", "转{}给王五"],
    "妈妈": ["给妈妈转{}", "{}，转给我妈"],
    "小刘": ["转{}给小刘", "小刘 {}"],
}
CHANNELS = ("web", "telegram", "wechat")
FAILURES_SHOWN_MAX = 30


def sample() -> list[tuple[str, int, str, str]]:
    """(rendering, fen, alias, sentence) for CASES renderings spread over every family, seeded."""
    rng = random.Random(f"{SEED}-stack")
    per_family = {family: list(renderings(family)) for family in FAMILIES}
    picked: list[tuple[str, int, str, str]] = []
    for family in itertools.islice(itertools.cycle(sorted(per_family)), CASES):
        rendering = rng.choice(per_family[family])
        alias = rng.choice(sorted(SENTENCES))
        picked.append((rendering.text, rendering.fen, alias, rng.choice(SENTENCES[alias]).format(rendering.text)))
    return picked


def uow(stack, *, read_only: bool = False) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(stack.world.sessions, settings=stack.settings, read_only=read_only)


def play(stack, channel: str, text: str, fen: int, alias: str) -> str | None:
    """One transfer from a fresh world; None when the customer got exactly what they asked for."""
    world = stack.world
    stack.reset.reset()
    source = world.wallet_of(CUSTOMER)
    target = resolve_recipient(uow(stack, read_only=True), CUSTOMER, alias)[0].wallet_id
    balance_fen = world.ledger().balances[source]
    if balance_fen < fen:  # the customer topped up first: the test is about the amount, not the balance
        transfer(uow(stack), transfer_id=f"topup-{uuid.uuid4().hex}", source_wallet_id=settlement_wallet_id(uow(stack)),
                 target_wallet_id=source, amount_fen=fen - balance_fen, kind="topup")
    before = world.ledger()
    client = open_channel(channel, stack, CUSTOMER)
    try:
        said = client.say(text)
        conversation_id = world.conversation_id(channel, client.external_id())
        drafts = [d for d in world.drafts(CUSTOMER).values() if d.open]
        if len(drafts) != 1 or drafts[0].amount_fen != fen or drafts[0].recipient_wallet_id != target:
            return f"drafted {[(d.amount_fen, d.recipient_wallet_id) for d in drafts]}, bot said {said.seen}"
        summaries = [m for m in world.messages(conversation_id) if m.sender == "bot" and any(is_confirm(b) for b in m.buttons)]
        if not summaries or format_yuan(fen) not in summaries[-1].text:
            return f"the summary does not name {format_yuan(fen)}: {said.seen}"
        summary = summaries[-1]
        asked = client.press(Target(summary, next(i for i, b in enumerate(summary.buttons) if is_confirm(b))))
        entered = client.secret("pin", PIN)
        if fen >= stack.settings.otp_threshold_fen:
            entered = client.secret("otp", world.latest_otp(CUSTOMER) or "")
        after = world.ledger()
        moved = {w: after.balances[w] - before.balances.get(w, 0) for w in after.balances if after.balances[w] != before.balances.get(w, 0)}
        if moved != {source: -fen, target: fen} or after.transfers != before.transfers + 1:
            return f"the ledger moved {moved} ({after.transfers - before.transfers} transfers); bot said {asked.seen + entered.seen}"
    finally:
        client.close()
    return None


def test_at_least_a_hundred_amounts_in_customers_forms_are_summarised_and_moved_to_the_fen(corpus_stack):
    cases = sample()
    assert len(cases) >= 100 and {c[1] for c in cases} and len({c[0] for c in cases}) >= 90
    failures = []
    for number, (rendering, fen, alias, text) in enumerate(cases):
        channel = CHANNELS[number % len(CHANNELS)]
        problem = play(corpus_stack, channel, text, fen, alias)
        if problem is not None:
            failures.append(f"[{channel}] {text!r} (¥{fen / 100:,.2f} to {alias}): {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} amounts went wrong:\n" + "\n".join(failures[:FAILURES_SHOWN_MAX])
