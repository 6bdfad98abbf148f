"""Record how long `make train` took, so `make bench` need not train again to measure it.

Run by the Makefile's model rule (system Python, standard library only) right after
`rasa train --force`: `python3 bench/trainrecord.py START_NS`, where START_NS is `date +%s%N` taken
before training. Writes models/walletbot.training.json with the seconds, the model's size and the
digest of the model's inputs; bench/training.py uses it while the inputs are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "walletbot.tar.gz"
RECORD = ROOT / "models" / "walletbot.training.json"
# The Makefile's MODEL_INPUTS: what a retraining depends on.
MODEL_INPUT_GLOBS = ("config.yml", "domain.yml", "data/*.yml", "data/nlu/*.yml", "knowledge/jieba/*",
                     "nlu_components/normalizer.py", "bot/textnorm.py")


def inputs_digest(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for pattern in MODEL_INPUT_GLOBS:
        for path in sorted(root.glob(pattern)):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: trainrecord.py START_NS (from `date +%s%N` before training)", file=sys.stderr)
        return 2
    seconds = (time.time_ns() - int(argv[0])) / 1e9
    record = {
        "seconds": round(seconds, 1),
        "model_size_bytes": MODEL.stat().st_size,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs_digest": inputs_digest(),
        "by": "make train (rasa train --force)",
    }
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print(f"trained in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
