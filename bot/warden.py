"""The warden: kills a stack's process groups when the process that started them dies.

`Stack` (bot/runner.py) starts each server in its own process group and tells a small warden
process about it over a pipe: `+<pgid>` when a group is started, `-<pgid>` once it is gone. When the
owner dies in any way — Ctrl-C, SIGTERM, an exception, `kill -9`, a pytest run that is killed — the
pipe reaches end-of-file and the warden `SIGKILL`s every group still on its list, grandchildren
included (the action server's Sanic workers are grandchildren). An orderly `Stack.stop()` stops
the groups itself first, so the warden then has nothing left to do.

Process ids are reused (pid_max is 32768 on some machines), so a group is known by its leader's pid
*and start time*: a group whose number now belongs to another process is never signalled.

`python -m bot.warden` runs the warden; this module imports only the standard library.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import IO


class Warden:
    """The owner's end of the pipe: one warden process per running stack."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bot.warden"],
            stdin=subprocess.PIPE, start_new_session=True,  # Ctrl-C in the terminal reaches the owner, not the warden
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        self._pipe: IO[bytes] = self._process.stdin  # type: ignore[assignment]

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid} {start_time(pgid) or 0}")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    def close(self) -> None:
        """End the warden (it kills whatever it still watches, which after `Stack.stop()` is nothing)."""
        try:
            self._pipe.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _send(self, line: str) -> None:
        try:
            self._pipe.write(f"{line}\n".encode())
            self._pipe.flush()
        except (BrokenPipeError, ValueError):
            pass  # the warden is gone; nothing to tell it


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot), or None when no such process is running."""
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def group_alive(pgid: int) -> bool:
    """Whether a live process is left in the group; a zombie counts as gone (it holds no port, and
    reaping orphaned ones is init's business, which takes seconds on some VMs)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    if not os.path.isdir("/proc"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()  # state ppid pgrp …
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def kill_group(pgid: int, sig: int, leader_start: int) -> None:
    """Signal the group `pgid` unless its number was reused: a process `pgid` that started at
    another time than our leader means our group is gone (a live member would hold the number)."""
    now = start_time(pgid)
    if now is not None and leader_start and now != leader_start:
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def guard(lines: IO[str]) -> dict[int, int]:
    """Read `+pgid start` / `-pgid` lines until end-of-file; return the groups still watched
    with their leaders' start times."""
    watched: dict[int, int] = {}
    for line in lines:
        words = line.split()
        if not words or not words[0][1:].isdigit():
            continue
        pgid = int(words[0][1:])
        if words[0][0] == "+":
            watched[pgid] = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
        elif words[0][0] == "-":
            watched.pop(pgid, None)
    return watched


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the end of the pipe ends the warden
    for pgid, leader_start in guard(sys.stdin).items():
        kill_group(pgid, signal.SIGKILL, leader_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
