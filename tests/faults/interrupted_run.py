"""Not collected on its own: `test_interrupted_runs.py` runs this module in a pytest of its own and
interrupts that pytest (SIGTERM, or SIGKILL) while the stack below is running.

The stack is started as every test fixture starts one (`Stack`), with Rasa still loading its model
when the interruption comes: that is when Rasa servers used to be left behind. Once the gateway and
the action server answer, the fixture writes the pids of every process under this pytest to
$INTERRUPTED_RUN_DIR/pids; after an orderly stop it writes $INTERRUPTED_RUN_DIR/stopped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from bot.db import upgrade_database
from bot.runner import Stack
from bot.settings import load_settings
from tests.faults.stacks import stack_env

REPORT_DIR = Path(os.environ.get("INTERRUPTED_RUN_DIR", "."))


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture()
def running(tmp_path):
    env = stack_env(tmp_path)
    settings = load_settings(env)
    upgrade_database(settings.database_url)
    stack = Stack(settings, env=env, log_dir=tmp_path / "log")
    try:
        stack.start()
        deadline = time.monotonic() + 120
        while not (answers(f"http://127.0.0.1:{settings.actions_port}/health") and answers(f"http://127.0.0.1:{settings.port}/healthz")):
            assert time.monotonic() < deadline, "the gateway and the action server did not answer"
            time.sleep(0.2)
        pids = descendants(os.getpid())
        (REPORT_DIR / "pids.tmp").write_text("\n".join(map(str, pids)))
        (REPORT_DIR / "pids.tmp").rename(REPORT_DIR / "pids")
        yield stack
    finally:
        stack.stop()
        (REPORT_DIR / "stopped").write_text("")


def test_waits_to_be_interrupted(running):
    time.sleep(300)
