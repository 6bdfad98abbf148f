"""The kill scheduler: `SIGKILL` to a random process at random moments, as the OOM killer would.

The plan is drawn from the run's seed before anything starts: the kill moments spread over the run
with jitter, and the victims in rounds, each round every process type once in a shuffled order, so
every type is hit and none twice in a row. The process types are the gateway, the action server and
Rasa; in the scaled layout "rasa" means one of the two replicas (chosen at random), never both.

Before each kill the scheduler waits until its victim answers again after its previous kill
(bounded), so the supervisor never sees a crash loop of the soak's making; the others may still be
restarting (the gateway killed while Rasa loads its model is part of the game). Each kill is kept
with the moment the killed process answered again (`Kill.back_at`): the gateway's kills are the
windows in which a customer may go unanswered.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass

import httpx

from tests.soak.stack import SoakStack

UP_BEFORE_KILL_S = 240.0  # Rasa restarting on a busy 2-core machine
BACK_AFTER_KILL_S = 240.0
PROBE_TIMEOUT_S = 2.0


@dataclass
class Kill:
    kind: str  # gateway | actions | rasa
    process: str  # the process name in the stack (rasa-1, rasa-2 in the scaled layout)
    planned_at: float
    at: float | None = None  # seconds since the start of the workload
    pid: int | None = None
    back_at: float | None = None
    skipped: str | None = None


def plan(rng: random.Random, duration_s: float, count: int, kinds: list[str], *, lead_s: float, tail_s: float,
         first: str | None = None) -> list[Kill]:
    """`count` kills between `lead_s` and `duration_s - tail_s`, evenly spread with ±30 % jitter;
    `first` opens the first round (Rasa: its restart is the slowest, best not at the very end)."""
    victims: list[str] = []
    while len(victims) < count:
        round_ = kinds[:]
        rng.shuffle(round_)
        if not victims and first in round_:
            round_.remove(first)
            round_.insert(0, first)
        if victims and round_[0] == victims[-1]:
            round_.append(round_.pop(0))
        victims += round_
    span = max(duration_s - lead_s - tail_s, 1.0)
    step = span / count
    return [Kill(kind, "", round(lead_s + step * (n + 0.5) + rng.uniform(-0.3, 0.3) * step, 1)) for n, kind in enumerate(victims[:count])]


class Chaos(threading.Thread):
    def __init__(self, stack: SoakStack, kills: list[Kill], t0: float, rng: random.Random) -> None:
        super().__init__(name="soak-chaos", daemon=True)
        self.stack, self.kills, self.t0, self.rng = stack, kills, t0, rng
        self.halt_kills = threading.Event()  # no more kills
        self.halt = threading.Event()  # no more waiting at all
        self.watchers: list[threading.Thread] = []
        self.crashed: str | None = None

    def now(self) -> float:
        return time.monotonic() - self.t0

    def run(self) -> None:
        try:
            for kill in self.kills:
                if self.halt_kills.wait(max(kill.planned_at - self.now(), 0.0)):
                    kill.skipped = "the run ended"
                    continue
                self._strike(kill)
        except Exception as exc:  # noqa: BLE001
            self.crashed = f"{type(exc).__name__}: {exc}"

    def _process_for(self, kind: str) -> str:
        names = [name for name in self.stack.stack.processes if name == kind or name.startswith(f"{kind}-")]
        return self.rng.choice(sorted(names))

    def answers(self, name: str) -> bool:
        """The process `name` runs and answers on its port (the gateway: /healthz answers at all)."""
        if self.stack.stack.processes[name].poll() is not None:
            return False
        settings = self.stack.settings
        if name == "gateway":
            url = f"{self.stack.gateway_url}/healthz"
        elif name == "actions":
            url = f"{settings.actions_url}/health"
        else:
            urls = settings.rasa_urls if len(settings.rasa_urls) > 1 else [settings.rasa_url]
            url = urls[int(name.partition("-")[2] or 1) - 1] + "/"
        try:
            status = httpx.get(url, timeout=PROBE_TIMEOUT_S).status_code
        except httpx.HTTPError:
            return False
        return name == "gateway" or status == 200

    def _strike(self, kill: Kill) -> None:
        kill.process = self._process_for(kill.kind)
        if not self._until(lambda: self.answers(kill.process), UP_BEFORE_KILL_S, self.halt_kills):
            kill.skipped = f"{kill.process} did not come back"
            return
        process = self.stack.stack.processes[kill.process]
        kill.pid, kill.at = process.pid, round(self.now(), 3)
        try:
            os.kill(process.pid, signal.SIGKILL)  # the leader only: the action server's workers live on
        except ProcessLookupError:
            kill.skipped = "already gone"
            return

        def back() -> bool:
            return self.stack.stack.processes[kill.process].pid != kill.pid and self.answers(kill.process)

        def watch() -> None:  # apart, so that a slow Rasa start never delays the next kill
            if self._until(back, BACK_AFTER_KILL_S, self.halt):
                kill.back_at = round(self.now(), 3)

        watcher = threading.Thread(target=watch, name=f"soak-back-{kill.process}", daemon=True)
        watcher.start()
        self.watchers.append(watcher)

    def finish(self, timeout_s: float) -> None:
        """Stop killing; give the watchers `timeout_s` to see their processes back."""
        self.halt_kills.set()
        self.join(timeout=10)
        deadline = time.monotonic() + timeout_s
        for watcher in self.watchers:
            watcher.join(timeout=max(deadline - time.monotonic(), 0.1))
        self.halt.set()

    def _until(self, predicate, timeout_s: float, stop: threading.Event) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not stop.is_set():
            if predicate():
                return True
            time.sleep(0.2)
        return predicate()
