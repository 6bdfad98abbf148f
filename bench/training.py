"""The model's training time: `rasa train --force` into a temporary folder, timed.

A full training takes minutes on two cores, so a measurement is kept with a digest of the model's
inputs (the Makefile's MODEL_INPUTS): the one `make train` records when it trains the model
(models/walletbot.training.json, see bench/trainrecord.py) or the bench's own (var/bench/training.json).
`--train auto` reuses the newer of the two while the inputs are unchanged and trains again when they
changed. The report says which it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.trainrecord import RECORD as MAKE_RECORD, inputs_digest
from bot.runner import RASA_BIN
from bot.settings import ROOT

TRAIN_TIMEOUT_S = 900


def measure(log_path: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="walletbot-train-") as folder:
        started = time.perf_counter()
        with open(log_path, "wb") as log:
            subprocess.run(
                [str(RASA_BIN), "train", "--force", "--out", folder, "--fixed-model-name", "bench"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=TRAIN_TIMEOUT_S,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"},
            )
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(folder).glob("*.tar.gz"))
    return {"seconds": round(seconds, 1), "model_size_bytes": size, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def training_time(mode: str, cache: Path, log_path: Path) -> dict:
    """mode: "auto" (cached figure while the inputs are unchanged), "always" (train now), "never"."""
    digest = inputs_digest()
    candidates = []
    for path, who in ((cache, "the bench"), (MAKE_RECORD, "make train")):
        try:
            figure = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if figure.get("inputs_digest") == digest and figure.get("seconds"):
            candidates.append((figure["measured_at"], who, figure))
    if mode != "always" and candidates:
        measured_at, who, figure = max(candidates, key=lambda c: c[0])
        return {**figure, "source": f"measured by {who} at {measured_at} (inputs unchanged; --train always to re-measure)"}
    if mode == "never":
        return {"seconds": None, "source": "skipped (--train never)"}
    figure = {**measure(log_path), "inputs_digest": digest}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(figure, indent=2) + "\n")
    return {**figure, "source": "measured in this run"}
