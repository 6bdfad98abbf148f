"""An interrupted test run leaves no process behind: not a Rasa server, not an action server worker.

Each test runs `interrupted_run.py` in a pytest of its own, waits until its stack is up (Rasa still
loading), interrupts that pytest, and then looks for every process that was running under it.
SIGTERM is torn down like Ctrl-C (tests/conftest.py); SIGKILL leaves the stack's warden to do it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.settings import ROOT

pytestmark = pytest.mark.e2e

STACK_UP_WITHIN_S = 120.0
ALL_GONE_WITHIN_S = 30.0


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def run_interrupted(tmp_path: Path, sig: signal.Signals) -> tuple[list[int], subprocess.Popen]:
    """Start the inner pytest, wait for its stack, send it `sig`; return the pids that were under it."""
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults/interrupted_run.py"],
        cwd=ROOT, env={**os.environ, "INTERRUPTED_RUN_DIR": str(tmp_path)},
        stdout=open(tmp_path / "inner.log", "wb"), stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STACK_UP_WITHIN_S
        while not (tmp_path / "pids").exists():
            assert inner.poll() is None, (tmp_path / "inner.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the inner stack did not come up"
            time.sleep(0.2)
        pids = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
        inner.send_signal(sig)
        inner.wait(timeout=60)
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait()
    return pids, inner


def wait_all_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + ALL_GONE_WITHIN_S
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_a_test_run_stopped_with_sigterm_stops_its_stack_in_order_and_leaves_nothing_behind(tmp_path):
    pids, inner = run_interrupted(tmp_path, signal.SIGTERM)
    assert len(pids) >= 5, pids  # gateway, Rasa, action server with its Sanic processes, the warden
    assert wait_all_gone(pids) == []
    assert (tmp_path / "stopped").exists(), (tmp_path / "inner.log").read_text(errors="replace")[-3000:]


def test_a_test_run_killed_outright_leaves_nothing_behind_either(tmp_path):
    pids, inner = run_interrupted(tmp_path, signal.SIGKILL)
    assert inner.returncode == -signal.SIGKILL
    assert wait_all_gone(pids) == []
    assert not (tmp_path / "stopped").exists()  # no teardown ran: the warden did it
