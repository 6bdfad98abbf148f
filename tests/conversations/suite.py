"""Running a selection of cases on one stack: shared by `test_corpus.py` and `python -m tests.conversations`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ARTIFACTS
from tests.conversations import reference
from tests.conversations.corpus import Case, Corpus
from tests.conversations.report import RunSummary
from tests.conversations.runner import CaseResult, CaseRunner
from tests.conversations.stack import CorpusStack

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "corpus"
SAMPLES_DIR = HERE / "samples"
REPORT_DIR = ARTIFACTS / "conversations"


def select(
    corpus: Corpus, *, points: list[int] | None = None, ids: list[str] | None = None, channels: list[str] | None = None
) -> list[tuple[Case, str]]:
    """(case, channel) in corpus order, filtered; a case's channel does not depend on the filter."""
    chosen = []
    for case in corpus.cases:
        channel = corpus.channel_of(case)
        if points and case.point not in points:
            continue
        if ids and case.id not in ids:
            continue
        if channels and channel not in channels:
            continue
        chosen.append((case, channel))
    return chosen


def progress_line(index: int, total: int, result: CaseResult) -> str:
    mark = "ok  " if result.passed else ("MONEY" if result.money_mismatch else "FAIL")
    return f"[{index}/{total}] {mark} {result.id} ({result.channel}, {result.elapsed_s:.1f} s)"


def run_selection(
    stack: CorpusStack, selected: list[tuple[Case, str]], *, on_result: Callable[[str], None] | None = None
) -> list[CaseResult]:
    reference.use_settings(stack.settings)
    runner = CaseRunner(stack)
    results = []
    for index, (case, channel) in enumerate(selected, start=1):
        result = runner.run(case, channel)
        results.append(result)
        if on_result is not None:
            on_result(progress_line(index, len(selected), result))
    return results


def run_on_new_stack(corpus: Corpus, selected: list[tuple[Case, str]], workdir: Path, *, full_corpus: bool) -> RunSummary:
    """Start a stack, play the selection, stop the stack; the summary of the run."""
    started = time.monotonic()
    stack = CorpusStack.start(workdir)
    try:
        results = run_selection(stack, selected, on_result=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        stack.stop()
    problems = corpus.problems if full_corpus else []
    return RunSummary(results, problems, time.monotonic() - started, stack.startup_s)
