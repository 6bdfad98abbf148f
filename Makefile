# walletbot — every target sets up what it needs and is cheap the second time.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON311 ?= python3
VENV := .venv
RASA_VENV := .venv-rasa
MODEL := models/walletbot.tar.gz
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Rasa 3.6 needs Python 3.8-3.10: pyenv's 3.10 first, then a working python3.10 on PATH.
PY310 := $(or $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.10.*/bin/python3.10) \
                          $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python3.10)), \
              $(shell command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys' >/dev/null 2>&1 && command -v python3.10))

MODEL_INPUTS := config.yml domain.yml $(wildcard data/*.yml data/nlu/*.yml) $(wildcard knowledge/jieba/*) \
                $(wildcard nlu_components/*.py) bot/textnorm.py

# The services the test suite talks to (PostgreSQL and Redis run on every developer and CI machine).
export WALLETBOT_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export WALLETBOT_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: help setup run run-scaled train test test-fast bench nlu-report conversations soak soak-scaled clean

help:
	@echo "make run    set up what is missing, then start gateway, Rasa and action server"
	@echo "make test   set up what is missing, then run the whole test suite"
	@echo "make train  train the Rasa model when data or config changed"
	@echo "make bench  run the benchmarks (figures in var/bench/)"
	@echo "make nlu-report  cross-validation and the blind field-style set (figures in var/nlu/, a few minutes)"
	@echo "make run-scaled  two Rasa servers on PostgreSQL + Redis behind one gateway (README: Scale-out)"
	@echo "make conversations  play the conversation corpus (CONVERSATIONS_ARGS=\"--point 3 --channel web\")"
	@echo "make soak   30-minute chaos soak on SQLite (SOAK_ARGS=\"--scaled\" or make soak-scaled: PostgreSQL + Redis)"

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON311) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements.txt -r requirements-dev.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	@touch $@

$(RASA_VENV)/.installed: requirements-rasa.txt constraints-rasa.txt
	@if [ -z "$(strip $(PY310))" ]; then \
	  echo "walletbot needs Python 3.10 for Rasa 3.6 and none was found."; \
	  echo "Install one with 'pyenv install 3.10' (or your OS's python3.10 package), then run make again."; \
	  exit 1; fi
	@test -x $(RASA_VENV)/bin/python || $(strip $(PY310)) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install -q -r requirements-rasa.txt -c constraints-rasa.txt
	@touch $@

# Debian's Chromium and ChromeDriver for the browser tests (Playwright's own download cannot work
# here), and CJK fonts so screenshots show Chinese.
BROWSER_DEPS := /usr/bin/chromium /usr/bin/chromedriver /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(BROWSER_DEPS):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver fonts-noto-cjk

setup: $(VENV)/.installed $(RASA_VENV)/.installed

# A full training (--force: no reuse of Rasa's component cache), timed for `make bench`
# (bench/trainrecord.py writes models/walletbot.training.json).
$(MODEL): $(MODEL_INPUTS) $(RASA_VENV)/.installed
	$(RASA_VENV)/bin/rasa data validate --fail-on-warnings
	@start=$$(date +%s%N) && \
	  $(RASA_VENV)/bin/rasa train --force --fixed-model-name walletbot --out models && \
	  $(PYTHON311) bench/trainrecord.py $$start
	@touch $@

train: $(MODEL)

run: setup $(MODEL)
	$(VENV)/bin/walletbot run

# Scale-out (README "Scale-out"): two Rasa servers sharing a PostgreSQL tracker store and a Redis lock
# store, ledger and queue on PostgreSQL, one action server, the gateway routing each conversation to
# one replica. Each variable can be overridden from the environment; the two databases are created
# when missing.
run-scaled: setup $(MODEL)
	$(VENV)/bin/python -c 'import psycopg, sys; db = psycopg.connect(sys.argv[1], autocommit=True); \
	  [db.execute(f"CREATE DATABASE {name}") for name in sys.argv[2:] if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()]' \
	  "host=127.0.0.1 port=5432 user=postgres dbname=postgres" walletbot walletbot_tracker
	RASA_URLS="$${RASA_URLS:-http://127.0.0.1:5005,http://127.0.0.1:5006}" \
	DATABASE_URL="$${DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/walletbot}" \
	TRACKER_STORE_URL="$${TRACKER_STORE_URL:-postgresql://postgres@127.0.0.1:5432/walletbot_tracker}" \
	LOCK_STORE_URL="$${LOCK_STORE_URL:-redis://127.0.0.1:6379/1}" \
	$(VENV)/bin/walletbot run

# The corpus runs in `make test`: every case played, well-formed, no money mismatch, and its 95 % pass-rate
# gate (see README, "Tests").
test: setup $(MODEL) $(BROWSER_DEPS)
	$(VENV)/bin/pytest -ra

# With the scale-out layout too (PostgreSQL and Redis, as for `make test`); BENCH_ARGS adds options.
bench: setup $(MODEL)
	$(VENV)/bin/python -m bench --scaled $(BENCH_ARGS)

# NLU figures (README "NLU, training and evaluation"): 5-fold cross-validation of data/nlu, the blind
# field-style set (intent, per-intent recall and F1, confusions, FAQ entry, out of scope, parse latency);
# var/nlu/report.md. A few minutes; NLU_REPORT_ARGS="--no-cv" takes half a minute.
nlu-report: setup $(MODEL)
	$(VENV)/bin/python -m bench.nlu $(NLU_REPORT_ARGS)

# The conversation corpus (tests/conversations/FORMAT.md) on its own stack, without pytest; the report
# goes to tests/artifacts/conversations/. CONVERSATIONS_ARGS filters: --point N, --id ID, --channel web.
conversations: setup $(MODEL)
	$(VENV)/bin/python -m tests.conversations $(CONVERSATIONS_ARGS)  # exits 1 below the 95 % gate

# The chaos soak (README "Tests"): customers on three channels while processes are killed and requests
# replayed, then money, PINs and conversations checked; figures printed, JSON summary in var/soak/.
# Not part of `make test`, which runs its 2-minute version (tests/faults/test_soak.py).
soak: setup $(MODEL)
	$(VENV)/bin/python -m tests.soak $(SOAK_ARGS)

soak-scaled: setup $(MODEL)
	$(VENV)/bin/python -m tests.soak --scaled $(SOAK_ARGS)

clean:
	rm -rf models var/log var/bench
