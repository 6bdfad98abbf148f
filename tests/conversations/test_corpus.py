"""The conversation corpus (tests/conversations/corpus/*.yml, FORMAT.md) against the real stack.

One stack for the whole corpus; every case starts from the contract's demo world. The report goes to
tests/artifacts/conversations/ (report.md, results.json). The thresholds are the issue's.
"""

from __future__ import annotations

import pytest

from tests.conversations.corpus import load_corpus
from tests.conversations.report import PASS_RATE_MIN, RunSummary, write_report
from tests.conversations.suite import CORPUS_DIR, REPORT_DIR, run_selection, select

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def corpus():
    loaded = load_corpus([CORPUS_DIR])
    if not loaded.cases and not loaded.problems:
        pytest.skip(f"no cases in {CORPUS_DIR}")
    return loaded


@pytest.fixture(scope="session")
def corpus_run(corpus, corpus_stack) -> RunSummary:
    import time

    started = time.monotonic()
    results = run_selection(corpus_stack, select(corpus))
    summary = RunSummary(results, corpus.problems, time.monotonic() - started + corpus_stack.startup_s, corpus_stack.startup_s)
    report = write_report(summary, REPORT_DIR)
    print(f"\nconversation corpus: {summary.passed}/{summary.total} passed; report {report}")
    return summary


def test_every_case_in_the_corpus_is_well_formed(corpus):
    assert not corpus.problems, "\n".join(str(problem) for problem in corpus.problems)


def test_no_case_moves_or_drafts_the_wrong_amount_of_money(corpus_run):
    mismatches = {r.id: [str(f) for f in r.failures if f.money] for r in corpus_run.money_mismatches}
    assert not mismatches, mismatches


@pytest.mark.corpus_gate
def test_the_corpus_pass_rate_meets_the_issue_threshold(corpus_run):
    assert corpus_run.pass_rate >= PASS_RATE_MIN, (
        f"{corpus_run.passed}/{corpus_run.total} passed ({corpus_run.pass_rate:.1%}); see {REPORT_DIR / 'report.md'}"
    )
