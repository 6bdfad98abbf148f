"""`make nlu-report`: cross-validation of the training data and the blind field-style set, measured.

    .venv/bin/python -m bench.nlu [--folds 5] [--no-cv] [--model models/walletbot.tar.gz] [--out var/nlu]

1. k-fold cross-validation of data/nlu with config.yml (`rasa test nlu --cross-validation`, k models
   trained: most of the run), its per-intent F1 and confusion pairs;
2. the trained model on tests/nlu/field_test.yml, parsed in-process (`bench.nlu.parse`): intent
   accuracy, macro-F1, per-intent recall and F1, confusion pairs, parse latency (p50, p95);
3. the FAQ answer the action would give (`KnowledgeBase.answer_for` on the parsed intent) against the blind
   reviewer's labels (tests/nlu/field_faq_entries.yml), with the labelled intent too (the ranker alone),
   and the out-of-scope items that would get an FAQ answer.

Writes var/nlu/report.md, var/nlu/report.json and the parses (var/nlu/parsed.json), and prints the
headline figures. Steps 2 and 3 are `bench.nlu.field`, which `make test` asserts too
(tests/rasa/test_rasa_model.py); the cross-validation runs only here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from bench.nlu.field import CONFUSIONS_SHOWN, RASA_ENV, faq_figures, field_figures, field_items, parse_field_set
from bot.runner import RASA_BIN
from bot.settings import ROOT

CV_TIMEOUT_S = 3 * 3600


def cross_validate(folds: int, out: Path, log: Path) -> dict:
    started = time.perf_counter()
    with open(log, "wb") as handle:
        subprocess.run(
            [str(RASA_BIN), "test", "nlu", "--nlu", "data/nlu", "--config", "config.yml", "--cross-validation",
             "--folds", str(folds), "--out", str(out), "--no-plot"],
            cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, check=True, timeout=CV_TIMEOUT_S, env=RASA_ENV,
        )
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    errors_path = out / "intent_errors.json"
    errors = json.loads(errors_path.read_text(encoding="utf-8")) if errors_path.exists() else []
    confusions = Counter((e["intent"], e["intent_prediction"]["name"]) for e in errors)
    return {
        "folds": folds,
        "seconds": round(time.perf_counter() - started, 1),
        "accuracy": report.get("accuracy"),
        "macro_f1": report["macro avg"]["f1-score"],
        "per_intent_f1": {k: round(v["f1-score"], 3) for k, v in report.items() if isinstance(v, dict) and k not in _AVERAGES},
        "confusions": [[gold, predicted, n] for (gold, predicted), n in confusions.most_common(CONFUSIONS_SHOWN)],
    }


_AVERAGES = {"macro avg", "weighted avg", "micro avg", "accuracy"}


def markdown(report: dict) -> str:
    lines = [f"# NLU report — {report['measured_at']}", "", f"Model: `{report['model']}`", ""]
    cv = report.get("cross_validation")
    if cv:
        lines += [f"## Cross-validation ({cv['folds']} folds of data/nlu, {cv['seconds']:.0f} s)", "",
                  f"accuracy {cv['accuracy']:.3f}, macro-F1 {cv['macro_f1']:.3f}", "", "| intent | F1 |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in sorted(cv["per_intent_f1"].items(), key=lambda kv: kv[1])]
        lines += ["", "Confusion pairs (labelled → predicted, count):", ""]
        lines += [f"- {g} → {p}: {n}" for g, p, n in cv["confusions"]] + [""]
    field = report["field"]
    lines += [f"## Field-style set ({field['items']} blind items, tests/nlu/field_test.yml)", "",
              f"intent accuracy {field['accuracy']:.3f}, macro-F1 {field['macro_f1']:.3f}; "
              f"parse p50 {field['parse_ms_p50']:.1f} ms, p95 {field['parse_ms_p95']:.1f} ms (in-process)", "",
              "| intent | recall | F1 |", "|---|---|---|"]
    lines += [f"| {k} | {field['recall'][k]:.2f} | {field['f1'][k]:.2f} |" for k in sorted(field["recall"], key=field["recall"].get)]
    lines += ["", "Confusion pairs (labelled → predicted, count):", ""]
    lines += [f"- {g} → {p}: {n}" for g, p, n in field["confusions"]]
    faq = report["faq"]
    lines += ["", f"## FAQ answers ({faq['faq_questions']} labelled FAQ questions, tests/nlu/field_faq_entries.yml)", "",
              f"right entry {faq['entry_accuracy']:.3f} (with the labelled intent, the ranker alone: "
              f"{faq['entry_accuracy_with_labelled_intent']:.3f}); out of scope answered with an FAQ: "
              f"{faq['out_of_scope_answered_with_faq']}/{faq['out_of_scope_items']} ({faq['out_of_scope_answered_with_faq_rate']:.1%})", "",
              "Missed entries (wanted → given, count):", ""]
    lines += [f"- {w} → {g}: {n}" for w, g, n in faq["entry_misses"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validation (half a minute instead of a few)")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "walletbot.tar.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "nlu")
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"{args.model} is missing: run `make train` first", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    items = field_items()
    report: dict = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": str(args.model)}
    parsed = parse_field_set(args.model, [item["text"] for item in items])
    (args.out / "parsed.json").write_text(json.dumps(parsed, ensure_ascii=False, indent=0), encoding="utf-8")
    report["field"] = field_figures(items, parsed)
    report["faq"] = faq_figures(items, parsed)
    print(f"field-style: intent accuracy {report['field']['accuracy']:.3f}, macro-F1 {report['field']['macro_f1']:.3f}, "
          f"parse p50 {report['field']['parse_ms_p50']:.1f} ms; FAQ entry {report['faq']['entry_accuracy']:.3f}; "
          f"out of scope answered with an FAQ {report['faq']['out_of_scope_answered_with_faq_rate']:.1%}", flush=True)
    if not args.no_cv:
        report["cross_validation"] = cross_validate(args.folds, args.out / "cv", args.out / "cv.log")
        cv = report["cross_validation"]
        print(f"cross-validation ({cv['folds']} folds, {cv['seconds']:.0f} s): accuracy {cv['accuracy']:.3f}, macro-F1 {cv['macro_f1']:.3f}")
    (args.out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (args.out / "report.md").write_text(markdown(report), encoding="utf-8")
    print(f"written: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
