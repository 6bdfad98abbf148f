"""The blind field-style set measured: parsed by the trained model, scored by intent and by the FAQ
answer a customer would get. Used by `make nlu-report` (bench.nlu) and by `make test`
(tests/rasa/test_rasa_model.py), so both report the same figures.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import yaml

from bot.runner import RASA_PYTHON
from bot.settings import ROOT

FIELD_TEST = ROOT / "tests" / "nlu" / "field_test.yml"
FIELD_ENTRIES = ROOT / "tests" / "nlu" / "field_faq_entries.yml"
CONFUSIONS_SHOWN = 25
RASA_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}


def field_items() -> list[dict]:
    return yaml.safe_load(FIELD_TEST.read_text(encoding="utf-8"))["items"]


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
    from bot.knowledge import get_knowledge_base

    kb = get_knowledge_base()
    by_text = {p["text"]: p for p in parsed}
    intent_of = {item["text"]: item["intent"] for item in items}

    def chosen(text: str, intent: str, entities: dict) -> str | None:
        entry = kb.answer_for(text, intent=intent, entities=entities)  # what the FAQ action answers
        return entry.id if entry else None

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
