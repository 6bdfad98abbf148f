"""Parse texts with the trained model, in-process, timing each parse (run with the Rasa environment).

    .venv-rasa/bin/python -m bench.nlu.parse MODEL TEXTS_JSON OUT_JSON

TEXTS_JSON is a list of strings; OUT_JSON gets, per text, the intent, its confidence, the five likeliest intents with theirs, the entities and
the milliseconds the parse took. The first parses warm the model and are not timed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

WARM_UP_PARSES = 5
RANKING_KEPT = 5


async def parse_all(model: str, texts: list[str]) -> list[dict]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    for text in texts[:WARM_UP_PARSES]:
        await agent.parse_message(text)
    parsed = []
    for text in texts:
        started = time.perf_counter()
        result = await agent.parse_message(text)
        elapsed_ms = (time.perf_counter() - started) * 1000
        parsed.append({
            "text": text,
            "intent": result["intent"]["name"],
            "confidence": round(float(result["intent"]["confidence"]), 4),
            "ranking": [[r["name"], round(float(r["confidence"]), 4)] for r in result.get("intent_ranking", [])[:RANKING_KEPT]],
            "entities": {e["entity"]: e["value"] for e in result.get("entities", [])},
            "ms": round(elapsed_ms, 2),
        })
    return parsed


def main(argv: list[str]) -> int:
    model, texts_path, out_path = argv
    with open(texts_path, encoding="utf-8") as handle:
        texts = json.load(handle)
    parsed = asyncio.run(parse_all(model, texts))
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(parsed, handle, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
