"""The corpus runner's own parts, without a stack: loading cases, the world reset, phrase patterns."""

from __future__ import annotations

import sqlite3
import string
import textwrap

import pytest

from bot.settings import load_settings
from tests.conversations import reference
from tests.conversations.corpus import load_corpus
from tests.conversations.suite import select
from tests.conversations.world import WorldReset, seed_world

CASE = """
- id: {id}
  point: 1
  customer: demo-zhangsan
  turns:
    - say: {say}
      expect:
        summary: {{amount: "500.00", recipient: 李四}}
"""


def write(tmp_path, text: str):
    path = tmp_path / "cases.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_an_unknown_key_is_reported_with_the_case_id(tmp_path):
    corpus = load_corpus([write(tmp_path, CASE.format(id="bad-1", say="给李四转500") + "  colour: blue\n")])
    assert not corpus.cases
    [problem] = corpus.problems
    assert problem.case_id == "bad-1" and "colour" in problem.message


def test_a_recipient_outside_the_demo_world_is_a_bad_value(tmp_path):
    corpus = load_corpus([write(tmp_path, CASE.format(id="bad-2", say="转500").replace("李四", "赵六"))])
    assert "赵六" in corpus.problems[0].message


def test_yes_and_no_stay_what_the_customer_typed(tmp_path):
    corpus = load_corpus([write(tmp_path, CASE.format(id="ok-1", say="yes"))])
    assert corpus.cases[0].turns[0].value == "yes"


def test_a_case_keeps_its_channel_when_the_run_is_filtered(tmp_path):
    text = "".join(CASE.format(id=f"c-{n}", say="给李四转500") for n in range(6))
    corpus = load_corpus([write(tmp_path, text)])
    everything = dict((case.id, channel) for case, channel in select(corpus))
    assert set(everything.values()) == {"web", "telegram", "wechat"}
    assert select(corpus, ids=["c-4"])[0][1] == everything["c-4"]


def test_the_reset_puts_back_every_row_of_the_demo_world(tmp_path):
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}", "WALLETBOT_SECRET": "x" * 40})
    seed_world(settings, tmp_path / "template.db")
    reset = WorldReset(tmp_path / "live.db", tmp_path / "template.db")
    live = sqlite3.connect(tmp_path / "live.db", isolation_level=None)
    before = {table: live.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in reset.tables}
    live.execute("UPDATE wallets SET balance_fen = balance_fen + 1")
    live.execute("INSERT INTO conversations (id, channel, external_id, state, created_at, updated_at) VALUES ('c1', 'web', 'x', 'bot', '2026-01-01', '2026-01-01')")
    live.execute("DELETE FROM saved_recipients")
    assert reset.reset() < 0.3
    after = {table: live.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in reset.tables}
    template = sqlite3.connect(tmp_path / "template.db")
    assert after == before
    assert live.execute("SELECT SUM(balance_fen) FROM wallets").fetchone() == template.execute("SELECT SUM(balance_fen) FROM wallets").fetchone()
    reset.close()


@pytest.mark.parametrize("key", ["pin_wrong", "ask_amount", "balance"])
def test_a_phrase_pattern_matches_what_the_bot_says(key):
    fields = {name: "¥1,234.56" for _, name, _, _ in string.Formatter().parse(reference.phrase(key)) if name}
    assert reference.phrase_pattern(key).fullmatch(reference.phrase(key).format(**fields))


def test_a_missing_phrase_says_which():
    with pytest.raises(reference.PhraseMissing, match="phrase no_such_key not defined"):
        reference.phrase_pattern("no_such_key")
