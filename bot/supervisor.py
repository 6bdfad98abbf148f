"""Supervision: a server that crashes is restarted, with backoff, while the others keep serving.

`walletbot run` watches every process it started (gateway, action server, each Rasa replica). When
one exits it is started again after 1 s, 2 s, 4 s … (at most `backoff_max_s`), counting the crashes
of that process within `crash_window_s`; the `crashes_max`-th crash within the window means it
cannot start at all, and everything is stopped with one log line saying so. Meanwhile the gateway
answers what it can (it already degrades when Rasa or the action server is down).

Error tree (one leaf): `SupervisionError > CrashLoop`.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("walletbot.supervisor")


class SupervisionError(RuntimeError):
    pass


class CrashLoop(SupervisionError):
    def __init__(self, name: str, crashes: int, window_s: float) -> None:
        super().__init__(f"{name} crashed {crashes} times within {window_s:.0f} s")
        self.name, self.crashes, self.window_s = name, crashes, window_s


@dataclass(frozen=True)
class RestartPolicy:
    backoff_first_s: float = 1.0
    backoff_max_s: float = 30.0
    crashes_max: int = 5  # the 5th crash of one process within the window stops everything
    crash_window_s: float = 60.0

    def delay_s(self, attempt: int) -> float:
        return min(self.backoff_first_s * 2 ** (attempt - 1), self.backoff_max_s)


class CrashHistory:
    """The recent crashes of each process; the plain rule behind the supervisor."""

    def __init__(self, policy: RestartPolicy) -> None:
        self._policy = policy
        self._crashes: dict[str, deque[float]] = {}

    def record(self, name: str, now_s: float) -> int:
        """Count a crash of `name` and return the restart attempt it calls for (1, 2, …);
        raise `CrashLoop` when it is the `crashes_max`-th within the window."""
        crashes = self._crashes.setdefault(name, deque())
        crashes.append(now_s)
        while now_s - crashes[0] > self._policy.crash_window_s:
            crashes.popleft()
        if len(crashes) >= self._policy.crashes_max:
            raise CrashLoop(name, len(crashes), self._policy.crash_window_s)
        return len(crashes)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


class Supervised(Protocol):
    """What the supervisor needs of a stack (bot.runner.Stack)."""

    @property
    def processes(self) -> Mapping[str, subprocess.Popen]: ...

    def restart(self, name: str) -> None: ...

    def stop(self) -> None: ...


class Supervisor:
    def __init__(self, stack: Supervised, policy: RestartPolicy = RestartPolicy(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stack, self._policy, self._clock = stack, policy, clock
        self._history = CrashHistory(policy)
        self._due_s: dict[str, float] = {}  # process name → when it is started again
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.gave_up: CrashLoop | None = None

    def check(self) -> None:
        """One look at every process: schedule a restart for each that exited, start those due.
        Raises `CrashLoop` (after logging it) when a process crashes too often."""
        now_s = self._clock()
        for name, process in list(self._stack.processes.items()):
            returncode = process.poll()
            if returncode is None or name in self._due_s:
                continue
            try:
                attempt = self._history.record(name, now_s)
            except CrashLoop as exc:
                log.error("supervisor: %s exited (%s): %s; giving up and stopping everything",
                          name, describe_exit(returncode), exc)
                raise
            delay_s = self._policy.delay_s(attempt)
            self._due_s[name] = now_s + delay_s
            log.warning("supervisor: %s exited (%s); restart attempt %d in %.1f s",
                        name, describe_exit(returncode), attempt, delay_s)
        for name, due_s in list(self._due_s.items()):
            if now_s >= due_s:
                del self._due_s[name]
                self._stack.restart(name)
                log.warning("supervisor: %s restarted as pid %d", name, self._stack.processes[name].pid)

    def run(self, poll_s: float = 0.25) -> None:
        """Watch until `halt()`. On a crash loop stop the whole stack and raise `CrashLoop`."""
        while not self._halt.wait(poll_s):
            try:
                self.check()
            except CrashLoop as exc:
                self.gave_up = exc
                self._stack.stop()
                raise

    def start_background(self, poll_s: float = 0.25) -> None:
        """Watch from a thread (the tests do; `walletbot run` watches from its main thread)."""

        def watch() -> None:
            try:
                self.run(poll_s)
            except CrashLoop:
                pass  # logged, the stack is stopped, and `gave_up` says why

        self._thread = threading.Thread(target=watch, name="supervisor", daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """Stop watching (the processes keep running: `Stack.stop()` ends them)."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=60)


def interrupt_on_sigterm() -> None:
    """Make the first SIGTERM act like Ctrl-C, so `finally` blocks and pytest's fixture teardown stop
    the stacks and drop test databases; a second SIGTERM kills at once (the warden still reaps the
    children). Only from the main thread, and never over a handler someone else installed."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, interrupt)
