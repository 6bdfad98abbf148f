"""`python -m tests.soak` (or `make soak`): the chaos soak, 30 minutes by default.

    python -m tests.soak                          # SQLite, embedded layout, 30 minutes
    python -m tests.soak --scaled                 # PostgreSQL + Redis, two Rasa replicas
    python -m tests.soak --minutes 5 --seed 7     # shorter, another seed
    python -m tests.soak --quick                  # the 2-minute version of `make test`

Prints its figures and checks, writes the JSON summary to var/soak/ (or --out), exits 1 when a check fails.
The scaled layout reads WALLETBOT_TEST_POSTGRES_URL and WALLETBOT_TEST_REDIS_URL (`make` sets both).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bot.supervisor import interrupt_on_sigterm
from tests.soak.run import OUT_DIR, SoakOptions, quick_options, run_soak


def main(argv: list[str] | None = None) -> int:
    defaults = SoakOptions()
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description="The chaos soak.")
    parser.add_argument("--minutes", type=float, default=defaults.duration_s / 60, help="workload duration (default 30)")
    parser.add_argument("--scaled", action="store_true", help="PostgreSQL + Redis, two Rasa replicas (make run-scaled)")
    parser.add_argument("--customers", type=int, default=defaults.customers, help=f"soak customers (default {defaults.customers})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"the run's seed (default {defaults.seed})")
    parser.add_argument("--kills", type=int, help="kills over the run (default: 36 for 30 minutes, in proportion)")
    parser.add_argument("--replay-p", type=float, default=defaults.replay_p, help="chance each request is replayed")
    parser.add_argument("--quick", action="store_true", help="the 2-minute version run by make test")
    parser.add_argument("--workdir", type=Path, help="the stack's database and logs (default: a new temporary directory)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"where the JSON summary goes (default {OUT_DIR})")
    args = parser.parse_args(argv)

    services = dict(scaled=args.scaled, postgres_url=os.environ.get("WALLETBOT_TEST_POSTGRES_URL", ""),
                    redis_url=os.environ.get("WALLETBOT_TEST_REDIS_URL", ""))
    if args.quick:
        options = quick_options(seed=args.seed, **services)
    else:
        duration_s = args.minutes * 60
        scale = duration_s / defaults.duration_s
        options = SoakOptions(
            duration_s=duration_s, customers=args.customers, seed=args.seed, replay_p=args.replay_p,
            kills=args.kills or max(3, round(defaults.kills * scale)),
            transfers_min=round(defaults.transfers_min * scale), kills_min=min(defaults.kills_min, max(3, round(defaults.kills_min * scale))),
            replays_min=round(defaults.replays_min * scale), label=f"{args.minutes:g} min", **services,
        )
    interrupt_on_sigterm()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="walletbot-soak-"))
    summary = run_soak(options, workdir, args.out)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
