"""What `make bench` leaves in var/bench/: report.md, latency and throughput charts, summary.json."""

from __future__ import annotations

import json
from pathlib import Path

HEADLINE_USERS = 20
TARGET_RATIO_THROUGHPUT_MIN = 0.8
TARGET_RATIO_P95_MAX = 1.2


def _level(results: dict, target: str, users: int) -> dict | None:
    return next((r for r in results["levels"] if r["target"] == target and r["users"] == users), None)


def summary(results: dict) -> dict:
    e2e, rasa = _level(results, "e2e", HEADLINE_USERS), _level(results, "rasa", HEADLINE_USERS)
    e2e_rps = e2e["overall"]["throughput_rps"] if e2e else None
    rasa_rps = rasa["overall"]["throughput_rps"] if rasa else None
    e2e_p95 = e2e["overall"]["p95_ms"] if e2e else None
    rasa_p95 = rasa["overall"]["p95_ms"] if rasa else None
    ratio_rps = round(e2e_rps / rasa_rps, 3) if e2e_rps and rasa_rps else None
    ratio_p95 = round(e2e_p95 / rasa_p95, 3) if e2e_p95 and rasa_p95 else None
    errors = sum(r["overall"]["errors"] for r in results["levels"] if r["target"] == "e2e")
    return {
        "users": HEADLINE_USERS,
        "e2e_throughput_rps": e2e_rps,
        "rasa_throughput_rps": rasa_rps,
        "ratio_throughput": ratio_rps,
        "e2e_p95_ms": e2e_p95,
        "rasa_p95_ms": rasa_p95,
        "ratio_p95": ratio_p95,
        "errors": errors,
        "rasa_errors": sum(r["overall"]["errors"] for r in results["levels"] if r["target"] == "rasa"),
        "targets_met": {
            "throughput_at_least_80_percent": ratio_rps is not None and ratio_rps >= TARGET_RATIO_THROUGHPUT_MIN,
            "p95_at_most_1_2x": ratio_p95 is not None and ratio_p95 <= TARGET_RATIO_P95_MAX,
            "zero_errors": errors == 0,
        },
        "levels": {
            f"{r['target']}@{r['users']}": {k: r["overall"][k] for k in ("throughput_rps", "p50_ms", "p95_ms", "p99_ms", "errors")}
            for r in results["levels"]
        },
        "nlu_parse": results.get("nlu_parse"),
        "training": results.get("training"),
        "peak_memory_mib": {name: p["peak_mib"] + p["children_peak_mib"] for name, p in results.get("memory", {}).items()},
        "ledger_tps": results.get("ledger"),
        "duration_s": results.get("duration_s"),
        "load_average": results.get("load_average"),
        **_scaled_summary(results),
    }


def _scaled_summary(results: dict) -> dict:
    scaled = {r["target"]: r for r in results.get("scaled") or []}
    if "e2e-scaled" not in scaled:
        return {}
    users = scaled["e2e-scaled"]["users"]
    e2e, replica = scaled["e2e-scaled"]["overall"], (scaled.get("rasa-1") or {}).get("overall", {})
    single = (_level(results, "rasa", users) or {}).get("overall", {})
    rasa_rps = single.get("throughput_rps")
    return {
        "scaled_users": users,
        "scaled_rasa_alone_throughput_rps": rasa_rps,
        "scaled_e2e_throughput_rps": e2e["throughput_rps"],
        "scaled_e2e_p95_ms": e2e["p95_ms"],
        "scaled_errors": e2e["errors"],
        "scaled_one_replica_alone_throughput_rps": replica.get("throughput_rps"),
        "ratio_scaled_throughput": round(e2e["throughput_rps"] / rasa_rps, 3) if rasa_rps else None,
        "ratio_scaled_to_one_replica": round(e2e["throughput_rps"] / replica["throughput_rps"], 3) if replica.get("throughput_rps") else None,
    }


def charts(results: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    users = sorted({r["users"] for r in results["levels"]})
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for target, colour in (("e2e", "tab:blue"), ("rasa", "tab:orange")):
        for p, style in (("p50", "--"), ("p95", "-"), ("p99", ":")):
            ys = [(_level(results, target, u) or {}).get("overall", {}).get(f"{p}_ms") for u in users]
            label = f"{'gateway e2e' if target == 'e2e' else 'Rasa alone'} {p}"
            ax.plot(users, ys, style, marker="o", color=colour, label=label)
    ax.set_xlabel("concurrent customers")
    ax.set_ylabel("latency per step (ms)")
    ax.set_title("Latency against concurrent customers")
    ax.set_xticks(users)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    paths.append(out / "latency_vs_users.png")
    fig.savefig(paths[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for target, colour in (("e2e", "tab:blue"), ("rasa", "tab:orange")):
        ys = [(_level(results, target, u) or {}).get("overall", {}).get("throughput_rps") for u in users]
        ax.plot(users, ys, marker="o", color=colour, label="gateway e2e" if target == "e2e" else "Rasa alone")
    ax.set_xlabel("concurrent customers")
    ax.set_ylabel("steps per second")
    ax.set_title("Throughput against concurrent customers")
    ax.set_xticks(users)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "throughput_vs_users.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    return paths


def _ms(value) -> str:
    return "–" if value is None else f"{value:,.0f}"


def markdown(results: dict, head: dict) -> str:
    params = results["params"]
    lines = [
        "# walletbot benchmark",
        "",
        f"Run {results['started_at']} on {results['machine']}; {results['duration_s']:.0f} s in all. "
        f"Load average (1 min) before the load: {results['load_average']['before']}, after: {results['load_average']['after']}"
        + (" — the machine was busy with other work, so absolute figures are noisy; the ratios compare like with like."
           if max(results['load_average'].values()) > results['cpus'] else "."),
        f"Each level and target: {params['duration_s']:.0f} s ({params['headline_duration_s']:.0f} s at {HEADLINE_USERS} customers) "
        f"in {params['rounds']} rounds that alternate Rasa alone and end to end, the first {params['warmup_s']:.0f} s of each "
        f"round not counted; think time {params['think_s']:.1f} s ± 50 %. "
        "Mix per task: 60 % FAQ, 25 % balance/history, 10 % transfer (3 steps), 5 % handoff. "
        "Rasa alone gets the same steps on its REST webhook (see bench/load.py).",
        "",
        f"## Headline at {HEADLINE_USERS} concurrent customers",
        "",
        "| figure | gateway e2e | Rasa alone | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| throughput (steps/s) | {head['e2e_throughput_rps']} | {head['rasa_throughput_rps']} | {head['ratio_throughput']} | ≥ 0.8 "
        f"{'✅' if head['targets_met']['throughput_at_least_80_percent'] else '❌'} |",
        f"| p95 latency (ms) | {_ms(head['e2e_p95_ms'])} | {_ms(head['rasa_p95_ms'])} | {head['ratio_p95']} | ≤ 1.2 "
        f"{'✅' if head['targets_met']['p95_at_most_1_2x'] else '❌'} |",
        f"| errors (all levels) | {head['errors']} | {head['rasa_errors']} | | 0 {'✅' if head['targets_met']['zero_errors'] else '❌'} |",
        "",
        "![latency](latency_vs_users.png)",
        "![throughput](throughput_vs_users.png)",
        "",
        "## Every level",
        "",
        "| target | customers | steps/s | p50 ms | p95 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(results["levels"], key=lambda r: (r["users"], r["target"])):
        o = r["overall"]
        lines.append(f"| {r['target']} | {r['users']} | {o['throughput_rps']} | {_ms(o['p50_ms'])} | {_ms(o['p95_ms'])} | {_ms(o['p99_ms'])} | {o['errors']} |")
    names = sorted({p for r in results["levels"] for p in r.get("cpu_ms_per_step", {})})
    if names:
        lines += ["", "## CPU per customer step (ms, all processes' user + system time during the rounds)", "",
                  "| target | customers | " + " | ".join(names) + " | total |", "| --- | ---: |" + " ---: |" * (len(names) + 1)]
        for r in sorted(results["levels"], key=lambda r: (r["users"], r["target"])):
            cpu = r.get("cpu_ms_per_step", {})
            total = sum(v for v in cpu.values() if v is not None)
            lines.append(f"| {r['target']} | {r['users']} | " + " | ".join(str(cpu.get(n)) for n in names) + f" | {total:.1f} |")
    lines += ["", "## Per step", "", "| target | customers | step | requests | steps/s | p50 ms | p95 ms | p99 ms | errors |",
              "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in sorted(results["levels"], key=lambda r: (r["users"], r["target"])):
        for step, f in r["steps"].items():
            lines.append(f"| {r['target']} | {r['users']} | {step} | {f['requests']} | {f['throughput_rps']} | {_ms(f['p50_ms'])} | "
                         f"{_ms(f['p95_ms'])} | {_ms(f['p99_ms'])} | {f['errors']} |")
    kinds = [(r["target"], r["users"], k, n) for r in results["levels"] for k, n in r["error_kinds"].items()]
    if kinds:
        lines += ["", "Errors by kind:", ""] + [f"* {t} @ {u}: {k} × {n}" for t, u, k, n in kinds]

    nlu = results.get("nlu_parse") or {}
    training = results.get("training") or {}
    lines += [
        "",
        "## Model, NLU and memory",
        "",
        f"* NLU parse (`POST /model/parse`, one at a time, {nlu.get('requests')} FAQ questions): "
        f"p50 {_ms(nlu.get('p50_ms'))} ms, p95 {_ms(nlu.get('p95_ms'))} ms, errors {nlu.get('errors')}",
        f"* Model: {results['model_size_mib']:.1f} MiB (`models/walletbot.tar.gz`)",
        f"* Training time (`rasa train --force`, NLU and core): "
        + (f"{training['seconds']:.0f} s, {training['source']}" if training.get("seconds") else f"not measured ({training.get('source')})"),
        "* Peak resident memory (VmHWM) and CPU seconds used, after the whole load (both targets, every level):",
        "",
        "| process | peak MiB | child processes | their peak MiB | CPU s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, p in results.get("memory", {}).items():
        lines.append(f"| {name} | {p['peak_mib']:.0f} | {p['children']} | {p['children_peak_mib']:.0f} | {p.get('cpu_s', '–')} |")
    ledger = results.get("ledger") or {}
    lines += ["", "## Ledger transfers per second (bench/ledger.py)", "",
              "| database | 1 worker | 8 workers | transfers per run |", "| --- | ---: | ---: | ---: |"]
    for backend, f in ledger.items():
        lines.append(f"| {backend} | {f['workers_1_tps']} | {f['workers_8_tps']} | {f['transfers']} |")
    if not ledger:
        lines.append("| (skipped) | | | |")
    if results.get("scaled"):
        lines += ["", f"## Scaled layout (`make run-scaled`: 2 Rasa servers, PostgreSQL tracker and ledger, Redis locks) at {head.get('scaled_users')} customers", "",
                  "Same rounds as above, alternating one replica driven alone and the gateway over both replicas.", "",
                  "| target | steps/s | p50 ms | p95 ms | p99 ms | errors |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in results["scaled"]:
            o = r["overall"]
            lines.append(f"| {r['target']} | {o['throughput_rps']} | {_ms(o['p50_ms'])} | {_ms(o['p95_ms'])} | {_ms(o['p99_ms'])} | {o['errors']} |")
        lines += ["", f"Scaled e2e / Rasa alone at the same level above: {head.get('ratio_scaled_throughput')}; "
                      f"scaled e2e / one replica alone (same window): {head.get('ratio_scaled_to_one_replica')}."]
    if results.get("profile"):
        lines += ["", "## Gateway profile (py-spy, e2e at 20 customers)", "", results["profile"]]
    if results.get("notes"):
        lines += ["", "## Notes", ""] + [f"* {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


def write(results: dict, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    head = summary(results)
    charts(results, out)
    (out / "summary.json").write_text(json.dumps(head, indent=2, ensure_ascii=False) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    (out / "report.md").write_text(markdown(results, head), encoding="utf-8")
    return head
