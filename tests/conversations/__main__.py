"""`python -m tests.conversations` (or `make conversations`): run the corpus without pytest.

    python -m tests.conversations                       # the whole corpus
    python -m tests.conversations --point 3 --channel web
    python -m tests.conversations --id amount-007 --id amount-008
    python -m tests.conversations --samples             # the runner's own sample cases
    python -m tests.conversations --check               # only load and validate the corpus

Prints each case as it finishes and the report at the end; writes report.md and results.json to
tests/artifacts/conversations/ (or --out). Exits 1 below the pass-rate threshold or on a money mismatch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.conversations.corpus import load_corpus
from tests.conversations.report import PASS_RATE_MIN, render_console, write_report
from tests.conversations.suite import CORPUS_DIR, REPORT_DIR, SAMPLES_DIR, run_on_new_stack, select


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.conversations", description="Run the conversation corpus.")
    parser.add_argument("paths", nargs="*", type=Path, help="corpus files or directories (default: tests/conversations/corpus)")
    parser.add_argument("--samples", action="store_true", help="run tests/conversations/samples instead")
    parser.add_argument("--point", type=int, action="append", help="only cases of this point (repeatable)")
    parser.add_argument("--id", action="append", help="only this case (repeatable)")
    parser.add_argument("--channel", action="append", choices=("web", "telegram", "wechat"), help="only cases played on this channel")
    parser.add_argument("--check", action="store_true", help="only load and validate the cases")
    parser.add_argument("--out", type=Path, default=REPORT_DIR, help=f"report directory (default {REPORT_DIR})")
    parser.add_argument("--workdir", type=Path, help="where the stack keeps its database and logs (default: a new temporary directory)")
    args = parser.parse_args(argv)

    paths = args.paths or [SAMPLES_DIR if args.samples else CORPUS_DIR]
    corpus = load_corpus(paths)
    for problem in corpus.problems:
        print(f"invalid: {problem}", file=sys.stderr)
    selected = select(corpus, points=args.point, ids=args.id, channels=args.channel)
    print(f"{len(corpus.cases)} valid cases, {len(corpus.problems)} invalid; {len(selected)} selected", file=sys.stderr)
    if args.check:
        return 1 if corpus.problems else 0
    if not selected:
        return 1
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="walletbot-corpus-"))
    print(f"stack in {workdir} (logs in {workdir / 'log'})", file=sys.stderr)
    full = not (args.point or args.id or args.channel)
    summary = run_on_new_stack(corpus, selected, workdir, full_corpus=full)
    report = write_report(summary, args.out)
    print(render_console(summary))
    print(f"report: {report}")
    return 0 if summary.pass_rate >= PASS_RATE_MIN and not summary.money_mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
