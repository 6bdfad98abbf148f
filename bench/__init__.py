"""Benchmarks: `make bench` (`python -m bench`) and the ledger's own `python -m bench.ledger`.

    bench/__main__.py   the whole run: stack, load at 1-50 customers, Rasa baseline, report
    bench/load.py       the asyncio load generator (simulated customers, per-step statistics)
    bench/stack.py      a private stack on free ports: fresh SQLite, demo data, bench customers
    bench/report.py     var/bench/report.md, the PNG charts and summary.json
    bench/training.py   the model's training time (cached while its inputs are unchanged)
    bench/messages.yml  what the simulated customers type besides the FAQ question variants
    bench/ledger.py     ledger transfers per second (SQLite, PostgreSQL; 1 and 8 workers)
"""
