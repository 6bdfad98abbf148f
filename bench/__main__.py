"""`make bench`: how many customers walletbot serves at once and how fast, against Rasa alone.

    .venv/bin/python -m bench [--users 1,5,10,20,50] [--duration 20] [--think 1.0]
                              [--train auto|always|never] [--ledger-transfers 1000] [--profile]

In order: the model's training time (cached while its inputs are unchanged, see bench/training.py),
the ledger's transfers per second (bench/ledger.py: SQLite, and PostgreSQL when
WALLETBOT_TEST_POSTGRES_URL is set), then a private stack on free ports with a fresh SQLite: NLU parse
latency, and at each concurrency the same simulated customers against Rasa's REST webhook (the
baseline) and through the gateway (end to end). Figures are printed and written to var/bench/:
report.md, latency_vs_users.png, throughput_vs_users.png, summary.json (results.json has everything).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bot.runner import MODEL_PATH, rasa_api_token
from bot.settings import VAR_DIR
from bot.supervisor import interrupt_on_sigterm

from bench import ledger, load, report, stack as bench_stack
from bench.training import training_time

OUT_DIR = VAR_DIR / "bench"
PY_SPY = Path(sys.executable).parent / "py-spy"
REDIS_ENV = "WALLETBOT_TEST_REDIS_URL"
T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - T0:5.0f} s] {message}", flush=True)


def _print_level(result: dict) -> None:
    o = result["overall"]
    log(f"  {result['target']:<5} {result['users']:>3} customers: {o['throughput_rps']:>6.2f} steps/s  "
        f"p50 {o['p50_ms'] or 0:>6.0f} ms  p95 {o['p95_ms'] or 0:>6.0f} ms  p99 {o['p99_ms'] or 0:>6.0f} ms  errors {o['errors']}")


def _start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    if not PY_SPY.exists():
        return None
    return subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
         "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _summarize_profile(raw: Path, top: int = 12) -> str:
    """The collapsed stacks py-spy wrote, as the frames that used the most CPU (self and inclusive in bot/)."""
    if not raw.exists():
        return ""
    own: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            if "/bot/" in frame or "(bot/" in frame:
                ours[frame] += n
    if not total:
        return ""
    lines = [f"{total} samples at 100 Hz (only while running on a CPU). Self time:", "", "```"]
    lines += [f"{n / total:6.1%}  {frame[:150]}" for frame, n in own.most_common(top)]
    lines += ["```", "", "Inclusive time in walletbot's own code (bot/):", "", "```"]
    lines += [f"{n / total:6.1%}  {frame[:150]}" for frame, n in ours.most_common(top)]
    lines += ["```"]
    return "\n".join(lines)


async def _warm_up(targets, customers, texts) -> None:
    """First requests pay for TensorFlow's graph tracing and connection set-up: not part of any level."""
    for target in targets:
        await load.run_level(target, customers, texts, users=min(4, len(customers)), duration_s=4.0, warmup_s=0.0,
                             think_s=0.2, seed=99)


async def _load(stack, customers, texts, args, profile_raw: Path | None) -> tuple[list[dict], dict, str]:
    settings = stack.settings
    token = rasa_api_token(settings)
    users_max = max(args.users)
    rasa = load.RasaTarget(settings.rasa_url, settings.secret, token, users_max, settings.rasa_session_turns_max)
    e2e = load.GatewayTarget(f"http://127.0.0.1:{settings.port}", settings.secret, users_max)
    profile_text = ""
    pids = {name: process.pid for name, process in stack.processes.items()}
    try:
        log("NLU parse latency …")
        parse = await load.parse_latency(settings.rasa_url, token, list(texts.faq[::2]))
        log(f"  /model/parse p50 {parse['p50_ms']} ms, p95 {parse['p95_ms']} ms ({parse['requests']} requests)")
        await _warm_up((rasa, e2e), customers, texts)
        results = []
        log("load (steps/s counts every customer step; latency per step) …")
        for users in args.users:
            # Rounds alternate Rasa alone and end to end, so that drift on a shared machine hits both.
            duration = (args.headline_duration if users == report.HEADLINE_USERS else args.duration) / args.rounds
            runs: dict[str, list[load.Run]] = {rasa.name: [], e2e.name: []}
            cpu = {rasa.name: dict.fromkeys(pids, 0.0), e2e.name: dict.fromkeys(pids, 0.0)}
            for round_no in range(args.rounds):
                for target in (rasa, e2e) if round_no % 2 == 0 else (e2e, rasa):
                    spy = None
                    if profile_raw and target is e2e and users == report.HEADLINE_USERS and round_no == 0:
                        spy = _start_profile(stack.processes["gateway"].pid, duration, profile_raw)
                    cpu_before = bench_stack.cpu_seconds(pids)
                    runs[target.name].append(await load.run_level(
                        target, customers, texts, users=users, duration_s=duration, warmup_s=args.warmup,
                        think_s=args.think, seed=users * 100 + round_no))
                    cpu_after = bench_stack.cpu_seconds(pids)
                    for name in pids:
                        cpu[target.name][name] += cpu_after[name] - cpu_before[name]
                    if spy is not None:
                        spy.wait(timeout=60)
                        profile_text = _summarize_profile(profile_raw)
            for name in (rasa.name, e2e.name):
                result = load.summarize(runs[name])
                steps = sum(len(run.samples) for run in runs[name])
                result["cpu_ms_per_step"] = {p: round(1000 * sec / steps, 1) if steps else None for p, sec in cpu[name].items()}
                results.append(result)
                _print_level(result)
        return results, parse, profile_text
    finally:
        await rasa.http.aclose()
        await e2e.http.aclose()


async def _scaled_load(stack, customers, texts, args) -> list[dict]:
    """The busiest level on the scaled layout (where one Rasa is saturated): one replica driven alone vs
    the gateway over both."""
    settings = stack.settings
    users = max(args.users)
    rasa = load.RasaTarget(settings.rasa_urls[0], settings.secret, rasa_api_token(settings), users,
                          settings.rasa_session_turns_max)
    rasa.name = "rasa-1"
    e2e = load.GatewayTarget(f"http://127.0.0.1:{settings.port}", settings.secret, users)
    e2e.name = "e2e-scaled"
    try:
        await _warm_up((rasa, e2e), customers, texts)
        duration = args.duration / args.rounds
        runs: dict[str, list[load.Run]] = {rasa.name: [], e2e.name: []}
        for round_no in range(args.rounds):
            for target in (rasa, e2e) if round_no % 2 == 0 else (e2e, rasa):
                runs[target.name].append(await load.run_level(
                    target, customers, texts, users=users, duration_s=duration, warmup_s=args.warmup,
                    think_s=args.think, seed=users * 100 + round_no))
        results = [load.summarize(runs[name]) for name in (rasa.name, e2e.name)]
        for result in results:
            _print_level(result)
        return results
    finally:
        await rasa.http.aclose()
        await e2e.http.aclose()


def _run_scaled(customers, texts, args, results: dict) -> None:
    postgres, redis_url = os.environ.get(ledger.POSTGRES_ENV), os.environ.get(REDIS_ENV)
    if not (postgres and redis_url):
        results["notes"].append(f"--scaled skipped: {ledger.POSTGRES_ENV} and {REDIS_ENV} must both be set.")
        return
    databases = bench_stack.ScaledDatabases(postgres, uuid.uuid4().hex[:10])
    try:
        databases.create()
        bench_stack.check_redis(redis_url)
    except Exception as exc:  # noqa: BLE001 - a missing service skips this part, with the reason in the report
        databases.drop_quietly()
        note = f"--scaled skipped: PostgreSQL or Redis is not reachable ({type(exc).__name__}: {str(exc)[:200]})."
        log(note)
        results["notes"].append(note)
        return
    workdir = Path(tempfile.mkdtemp(prefix="walletbot-bench-scaled-"))
    try:
        log(f"starting the scaled layout: 2 Rasa servers, PostgreSQL, Redis (logs in {workdir / 'log'}) …")
        stack = bench_stack.start_scaled_stack(workdir, customers, databases, redis_url)
        try:
            results["scaled"] = asyncio.run(_scaled_load(stack, customers, texts, args))
            results["scaled_memory"] = bench_stack.peak_memory_mib({name: p.pid for name, p in stack.processes.items()})
        finally:
            stack.stop()
    finally:
        databases.drop()
    shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1,5,10,20,50", help="concurrency levels (default 1,5,10,20,50)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per level (default 20)")
    parser.add_argument("--headline-duration", type=float, default=40.0, help="seconds at 20 customers (default 40)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating Rasa/e2e rounds per level (default 2)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not counted at the start of each round")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between steps, seconds")
    parser.add_argument("--train", choices=("auto", "always", "never"), default="auto",
                        help="training time: cached while the model's inputs are unchanged (auto), re-measured (always), skipped (never)")
    parser.add_argument("--ledger-transfers", type=int, default=1000, help="transfers per ledger measurement (0 skips it)")
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway during the 20-customer e2e level")
    parser.add_argument("--scaled", action="store_true",
                        help="also measure the `make run-scaled` layout (2 Rasa servers; needs the PostgreSQL and Redis URLs)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    args.users = sorted({int(u) for u in args.users.split(",") if u.strip()})
    interrupt_on_sigterm()  # a SIGTERM'd bench stops its stacks and drops its databases, like Ctrl-C

    started = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "params": {"users": args.users, "rounds": args.rounds, "duration_s": args.duration, "headline_duration_s": args.headline_duration,
                   "warmup_s": args.warmup, "think_s": args.think},
        "cpus": os.cpu_count(),
        "model_size_mib": MODEL_PATH.stat().st_size / 2**20,
        "notes": [],
    }

    log("training time …")
    results["training"] = training_time(args.train, out / "training.json", out / "training.log")
    log(f"  {results['training'].get('seconds')} s ({results['training']['source']}); model {results['model_size_mib']:.1f} MiB")

    if args.ledger_transfers:
        log("ledger transfers per second …")
        postgres = os.environ.get(ledger.POSTGRES_ENV) or None
        results["ledger"] = ledger.run(args.ledger_transfers, postgres)
        for backend, f in results["ledger"].items():
            log(f"  {backend:<10} 1 worker {f['workers_1_tps']:>7.1f}/s   8 workers {f['workers_8_tps']:>7.1f}/s")
        if not postgres:
            results["notes"].append(f"PostgreSQL ledger figures skipped: {ledger.POSTGRES_ENV} is not set.")

    customers = bench_stack.bench_customers(max(args.users))
    texts = load.load_texts()
    workdir = Path(tempfile.mkdtemp(prefix="walletbot-bench-"))
    log(f"starting gateway, Rasa and action server (logs in {workdir / 'log'}) …")
    stack = bench_stack.start_stack(workdir, customers)
    try:
        profile_raw = out / "gateway-profile.txt" if args.profile else None
        before = round(os.getloadavg()[0], 2)
        levels, parse, profile_text = asyncio.run(_load(stack, customers, texts, args, profile_raw))
        results["load_average"] = {"before": before, "after": round(os.getloadavg()[0], 2)}
        results["levels"], results["nlu_parse"] = levels, parse
        if profile_text:
            results["profile"] = profile_text
        results["memory"] = bench_stack.peak_memory_mib({name: p.pid for name, p in stack.processes.items()})
    finally:
        stack.stop()
    for name, p in results["memory"].items():
        log(f"  peak memory {name:<8} {p['peak_mib'] + p['children_peak_mib']:>7.0f} MiB   CPU {p['cpu_s']:>6.1f} s")
    shutil.rmtree(workdir, ignore_errors=True)
    if args.scaled:
        _run_scaled(customers, texts, args, results)

    results["duration_s"] = round(time.perf_counter() - started, 1)
    head = report.write(results, out)
    print(f"\nat {report.HEADLINE_USERS} customers: e2e {head['e2e_throughput_rps']} steps/s vs Rasa alone "
          f"{head['rasa_throughput_rps']} (ratio {head['ratio_throughput']}); p95 {head['e2e_p95_ms']} ms vs "
          f"{head['rasa_p95_ms']} ms (ratio {head['ratio_p95']}); errors {head['errors']}")
    print(f"report: {out / 'report.md'}  ({results['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
