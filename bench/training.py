"""The model's training time: `rasa train --force` into a temporary folder, timed.

A full training takes minutes on two cores, so a measurement is kept in var/bench/training.json with a
digest of the model's inputs (the Makefile's MODEL_INPUTS); `--train auto` reuses it while the inputs
are unchanged and trains again when they changed. The report says which it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bot.runner import RASA_BIN
from bot.settings import ROOT

MODEL_INPUT_GLOBS = ("config.yml", "domain.yml", "data/*.yml", "data/nlu/*.yml", "knowledge/jieba/*",
                     "nlu_components/normalizer.py", "bot/textnorm.py")
TRAIN_TIMEOUT_S = 900


def inputs_digest() -> str:
    digest = hashlib.sha256()
    for pattern in MODEL_INPUT_GLOBS:
        for path in sorted(ROOT.glob(pattern)):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


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
    cached = json.loads(cache.read_text()) if cache.exists() else None
    if mode != "always" and cached and cached.get("inputs_digest") == digest:
        return {**cached, "source": f"cached from a measurement at {cached['measured_at']} (inputs unchanged; --train always to re-measure)"}
    if mode == "never":
        return {"seconds": None, "source": "skipped (--train never)"}
    figure = {**measure(log_path), "inputs_digest": digest}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(figure, indent=2) + "\n")
    return {**figure, "source": "measured in this run"}
