"""`make nlu-report`: cross-validation of the training data and the blind field-style set, measured.

    .venv/bin/python -m bench.nlu [--folds 5] [--no-cv] [--model models/walletbot.tar.gz] [--out var/nlu]

1. k-fold cross-validation of data/nlu with config.yml (`rasa test nlu --cross-validation`, k models
   trained: most of the half hour), its per-intent F1 and confusion pairs;
2. the trained model on tests/nlu/field_test.yml, parsed in-process (`bench.nlu.parse`): intent
   accuracy, macro-F1, per-intent recall and F1, confusion pairs, parse latency (p50, p95);
3. the FAQ answer the action would give (`KnowledgeBase.lookup` on the parsed intent) against the blind
   reviewer's labels (tests/nlu/field_faq_entries.yml), with the labelled intent too (the ranker alone),
   and the out-of-scope items that would get an FAQ answer.

Writes var/nlu/report.md and var/nlu/report.json and prints the headline figures. Outside `make test`:
the field figures that `make test` asserts come from tests/rasa/test_rasa_model.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import yaml

from bot.runner import RASA_BIN, RASA_PYTHON
from bot.settings import ROOT

FIELD_TEST = ROOT / "tests" / "nlu" / "field_test.yml"
FIELD_ENTRIES = ROOT / "tests" / "nlu" / "field_faq_entries.yml"
CV_TIMEOUT_S = 3 * 3600
CONFUSIONS_SHOWN = 25
RASA_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}


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


def parse_field_set(model: Path, texts: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="walletbot-nlu-") as folder:
        texts_path, out_path = Path(folder) / "texts.json", Path(folder) / "parsed.json"
        texts_path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        subprocess.run([str(RASA_PYTHON), "-m", "bench.nlu.parse", str(model), str(texts_path), str(out_path)],
                       cwd=ROOT, check=True, env={**RASA_ENV, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
        return json.loads(out_path.read_text(encoding="utf-8"))


def field_figures(items: list[dict], parsed: list[dict]) -> dict:
    from sklearn.metrics import f1_score

    gold = [item["intent"] for item in items]
    predicted = [p["intent"] for p in parsed]
    intents = sorted(set(gold))
    recall, f1 = {}, {}
    for intent in intents:
        positives = [p for g, p in zip(gold, predicted) if g == intent]
        recall[intent] = round(sum(p == intent for p in positives) / len(positives), 3)
        f1[intent] = round(float(f1_score(gold, predicted, labels=[intent], average="macro", zero_division=0)), 3)
    latencies = sorted(p["ms"] for p in parsed)
    confusions = Counter((g, p) for g, p in zip(gold, predicted) if g != p)
    return {
        "items": len(items),
        "accuracy": round(sum(g == p for g, p in zip(gold, predicted)) / len(items), 4),
        "macro_f1": round(float(f1_score(gold, predicted, labels=intents, average="macro", zero_division=0)), 4),
        "recall": recall,
        "f1": f1,
        "confusions": [[g, p, n] for (g, p), n in confusions.most_common(CONFUSIONS_SHOWN)],
        "parse_ms_p50": round(statistics.median(latencies), 2),
        "parse_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
    }


def faq_figures(items: list[dict], parsed: list[dict]) -> dict:
    from bot import cues
    from bot.knowledge import get_knowledge_base

    kb = get_knowledge_base()
    by_text = {p["text"]: p for p in parsed}
    intent_of = {item["text"]: item["intent"] for item in items}

    def chosen(text: str, intent: str, entities: dict) -> str | None:
        if cues.match("lost_phone", text):
            return "security_lost_phone"  # the action's safety-first rule
        hit = kb.lookup(text, intent=intent, entities=entities)
        return hit.entry.id if hit else None

    labels = [label for label in yaml.safe_load(FIELD_ENTRIES.read_text(encoding="utf-8"))["labels"]
              if label.get("entry") not in (None, "none") and label["text"] in by_text]
    right = right_with_gold = 0
    missed: Counter = Counter()
    for label in labels:
        text, good = label["text"], {label["entry"], *(label.get("also") or [])}
        p = by_text[text]
        got = chosen(text, p["intent"], p["entities"])
        right += got in good
        right_with_gold += chosen(text, intent_of[text], p["entities"]) in good
        if got not in good:
            missed[(label["entry"], got or "no FAQ")] += 1
    faq_intents = {entry.intent for entry in kb.entries}
    out_of_scope = [item["text"] for item in items if item["intent"] == "out_of_scope"]
    answered = [text for text in out_of_scope if by_text[text]["intent"] in faq_intents]
    return {
        "faq_questions": len(labels),
        "entry_accuracy": round(right / len(labels), 4),
        "entry_accuracy_with_labelled_intent": round(right_with_gold / len(labels), 4),
        "entry_misses": [[want, got, n] for (want, got), n in missed.most_common(CONFUSIONS_SHOWN)],
        "out_of_scope_items": len(out_of_scope),
        "out_of_scope_answered_with_faq": len(answered),
        "out_of_scope_answered_with_faq_rate": round(len(answered) / len(out_of_scope), 4) if out_of_scope else 0.0,
    }


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
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validation (minutes instead of half an hour)")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "walletbot.tar.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "nlu")
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"{args.model} is missing: run `make train` first", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    items = yaml.safe_load(FIELD_TEST.read_text(encoding="utf-8"))["items"]
    report: dict = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": str(args.model)}
    parsed = parse_field_set(args.model, [item["text"] for item in items])
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
