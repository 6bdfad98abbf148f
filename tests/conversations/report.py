"""The corpus run's report: pass rates overall, per point and per channel, the most common failure
reasons, and every failing case with its failed expectations and transcript. Written as
`report.md` (for people) and `results.json` (for tools) under tests/artifacts/conversations/."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.conversations.corpus import Problem
from tests.conversations.runner import CaseResult

PASS_RATE_MIN = 0.95  # the threshold; not to be lowered
TOP_REASONS = 10


@dataclass
class RunSummary:
    results: list[CaseResult]
    problems: list[Problem] = field(default_factory=list)  # cases that could not be loaded
    elapsed_s: float = 0.0
    startup_s: float = 0.0

    @property
    def total(self) -> int:
        return len(self.results) + len(self.problems)  # an invalid case counts, as a failure

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def money_mismatches(self) -> list[CaseResult]:
        return [r for r in self.results if r.money_mismatch]

    @property
    def transfers_not_made(self) -> list[CaseResult]:
        """Cases whose expected transfer never happened (no balance moved): failures, not money mismatches."""
        return [r for r in self.results if any(f.key == "ledger" and not f.money for f in r.failures)]

    def rates_by(self, attribute: str) -> list[tuple[object, int, int]]:
        groups: dict[object, list[CaseResult]] = defaultdict(list)
        for result in self.results:
            groups[getattr(result, attribute)].append(result)
        return [(key, sum(1 for r in group if r.passed), len(group)) for key, group in sorted(groups.items())]

    def top_reasons(self, limit: int = TOP_REASONS) -> list[tuple[str, int, int]]:
        """(reason, failures, cases) for the commonest reasons."""
        failures: Counter[str] = Counter()
        cases: dict[str, set[str]] = defaultdict(set)
        for result in self.results:
            for failure in result.failures:
                reason = f"{failure.key}: {failure.reason}"
                failures[reason] += 1
                cases[reason].add(result.id)
        return [(reason, count, len(cases[reason])) for reason, count in failures.most_common(limit)]

    def first_reasons(self, limit: int = TOP_REASONS) -> list[tuple[str, int]]:
        """The first failure of each failing case (later ones often follow from it), counted."""
        firsts = Counter(f"{r.failures[0].key}: {r.failures[0].reason}" for r in self.results if r.failures)
        return firsts.most_common(limit)

    def reset_stats_ms(self) -> dict[str, float]:
        timings = sorted(r.reset_s * 1000 for r in self.results)
        if not timings:
            return {}
        return {
            "mean": round(statistics.fmean(timings), 1),
            "p95": round(timings[min(len(timings) - 1, int(0.95 * len(timings)))], 1),
            "max": round(timings[-1], 1),
        }

    def to_json(self) -> dict:
        return {
            "generated_at": datetime.now().isoformat(timespec="seconds"),
            "total": self.total,
            "passed": self.passed,
            "pass_rate": round(self.pass_rate, 4),
            "pass_rate_min": PASS_RATE_MIN,
            "money_mismatches": [r.id for r in self.money_mismatches],
            "transfers_not_made": [r.id for r in self.transfers_not_made],
            "by_point": {str(k): {"passed": p, "total": t} for k, p, t in self.rates_by("point")},
            "by_channel": {str(k): {"passed": p, "total": t} for k, p, t in self.rates_by("channel")},
            "top_reasons": [{"reason": r, "failures": n, "cases": c} for r, n, c in self.top_reasons()],
            "first_reasons": [{"reason": r, "cases": n} for r, n in self.first_reasons()],
            "reset_ms": self.reset_stats_ms(),
            "elapsed_s": round(self.elapsed_s, 1),
            "startup_s": round(self.startup_s, 1),
            "invalid_cases": [str(p) for p in self.problems],
            "cases": [r.to_json() for r in self.results],
        }


def _percent(passed: int, total: int) -> str:
    return f"{passed}/{total} ({passed / total:.0%})" if total else "0/0"


def render_markdown(summary: RunSummary) -> str:
    lines = [
        "# Conversation corpus report",
        "",
        f"{datetime.now():%Y-%m-%d %H:%M}: **{_percent(summary.passed, summary.total)} passed** "
        f"(threshold {PASS_RATE_MIN:.0%}); money mismatches: **{len(summary.money_mismatches)}** "
        f"(a wrong summary amount, or money that moved wrongly); expected transfers that never happened "
        f"(no balance moved, counted as failures only): {len(summary.transfers_not_made)}.",
        f"Run time {summary.elapsed_s:.0f} s (stack start-up {summary.startup_s:.0f} s); "
        f"world reset per case {summary.reset_stats_ms() or 'n/a'} ms.",
        "",
        "| point | passed |", "| ---: | ---: |",
        *[f"| {point} | {_percent(p, t)} |" for point, p, t in summary.rates_by("point")],
        "",
        "| channel | passed |", "| --- | ---: |",
        *[f"| {channel} | {_percent(p, t)} |" for channel, p, t in summary.rates_by("channel")],
        "",
        "## Most common failure reasons",
        "",
        "| reason | failures | cases |", "| --- | ---: | ---: |",
        *[f"| {reason} | {count} | {cases} |" for reason, count, cases in summary.top_reasons()],
        "",
        "The first failure of each failing case (the later ones often follow from it):",
        "",
        "| first failure | cases |", "| --- | ---: |",
        *[f"| {reason} | {cases} |" for reason, cases in summary.first_reasons()],
        "",
    ]
    if summary.problems:
        lines += ["## Cases that could not be loaded", "", *[f"- {problem}" for problem in summary.problems], ""]
    if summary.money_mismatches:
        lines += ["## Money mismatches", "", *[f"- `{r.id}`: " + "; ".join(str(f) for f in r.failures if f.money) for r in summary.money_mismatches], ""]
    lines += ["## Failing cases", ""]
    for result in summary.results:
        if not result.passed:
            lines += _case_section(result)
    return "\n".join(lines) + "\n"


def _case_section(result: CaseResult) -> list[str]:
    lines = [
        f"### `{result.id}` (point {result.point}, {result.channel}, {result.customer}, {result.source})",
        "",
        *[f"- {'**money** ' if f.money else ''}{f}" for f in result.failures],
        "",
        "```text",
    ]
    for turn in result.transcript:
        lines.append(f"[{turn.number}] customer> {turn.customer}   ({turn.elapsed_s:.1f} s)")
        for reply in turn.replies:
            lines.append(f"    {reply['sender']}> " + reply["text"].replace("\n", "\n      "))
            if reply.get("buttons"):
                lines.append(f"      buttons: {' | '.join(reply['buttons'])}")
            if reply.get("custom"):
                lines.append(f"      custom: {reply['custom']}")
        for text in turn.seen:
            lines.append("    channel> " + text.replace("\n", "\n      "))
        if turn.error:
            lines.append(f"    !! {turn.error}")
    if result.trace:
        lines += ["", result.trace.rstrip()]
    return lines + ["```", ""]


def render_console(summary: RunSummary) -> str:
    """The short version for a terminal."""
    lines = [
        f"passed {_percent(summary.passed, summary.total)} (threshold {PASS_RATE_MIN:.0%}); "
        f"money mismatches {len(summary.money_mismatches)}; transfers not made {len(summary.transfers_not_made)}; run {summary.elapsed_s:.0f} s; reset {summary.reset_stats_ms()} ms",
        "by point:   " + ", ".join(f"{k}: {p}/{t}" for k, p, t in summary.rates_by("point")),
        "by channel: " + ", ".join(f"{k}: {p}/{t}" for k, p, t in summary.rates_by("channel")),
        "top reasons:",
        *[f"  {count:4d} ({cases} cases)  {reason}" for reason, count, cases in summary.top_reasons()],
    ]
    lines += [f"invalid: {problem}" for problem in summary.problems]
    for result in summary.results:
        if not result.passed:
            lines.append(f"FAIL {result.id} [{result.channel}]")
            lines += [f"    {'MONEY ' if f.money else ''}{f}" for f in result.failures]
    return "\n".join(lines)


def write_report(summary: RunSummary, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(summary.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    report = directory / "report.md"
    report.write_text(render_markdown(summary), encoding="utf-8")
    return report
