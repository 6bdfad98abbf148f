"""The supervisor's rules with a fake stack and a fake clock: backoff, attempts, giving up."""

from __future__ import annotations

import io
import logging
import signal
import subprocess
import time

import pytest

from bot.supervisor import CrashHistory, CrashLoop, RestartPolicy, Supervisor, describe_exit
from bot.warden import guard, kill_group, start_time


class FakeProcess:
    _next_pid = 1000

    def __init__(self) -> None:
        FakeProcess._next_pid += 1
        self.pid, self.returncode = FakeProcess._next_pid, None

    def poll(self) -> int | None:
        return self.returncode


class FakeStack:
    def __init__(self, *names: str) -> None:
        self.processes = {name: FakeProcess() for name in names}
        self.restarted: list[str] = []
        self.stopped = False

    def crash(self, name: str, returncode: int) -> None:
        self.processes[name].returncode = returncode

    def restart(self, name: str) -> None:
        self.restarted.append(name)
        self.processes[name] = FakeProcess()

    def stop(self) -> None:
        self.stopped = True


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


def test_the_backoff_doubles_from_one_second_up_to_its_cap():
    policy = RestartPolicy(backoff_first_s=1.0, backoff_max_s=30.0)
    assert [policy.delay_s(attempt) for attempt in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_the_fifth_crash_within_a_minute_is_a_crash_loop():
    history = CrashHistory(RestartPolicy(crashes_max=5, crash_window_s=60))
    assert [history.record("actions", t) for t in (0, 1, 3, 7)] == [1, 2, 3, 4]
    with pytest.raises(CrashLoop, match="actions crashed 5 times within 60 s"):
        history.record("actions", 15)


def test_crashes_older_than_the_window_are_forgotten_so_the_attempts_start_again():
    history = CrashHistory(RestartPolicy(crashes_max=5, crash_window_s=60))
    for t in (0, 1, 3, 7):
        history.record("actions", t)
    assert history.record("actions", 200) == 1


def test_each_process_has_its_own_crash_count():
    history = CrashHistory(RestartPolicy(crashes_max=2))
    assert history.record("rasa-1", 0) == 1
    assert history.record("rasa-2", 0) == 1


def test_an_exit_is_described_by_its_code_or_its_signal():
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGKILL) == "signal SIGKILL"


def test_a_crashed_process_is_restarted_after_its_delay_and_the_others_are_left_alone(clock, caplog):
    stack = FakeStack("gateway", "actions", "rasa")
    supervisor = Supervisor(stack, RestartPolicy(backoff_first_s=1.0), clock=clock)
    gateway = stack.processes["gateway"]
    caplog.set_level(logging.INFO, logger="walletbot.supervisor")

    stack.crash("actions", -signal.SIGKILL)
    supervisor.check()
    assert stack.restarted == []
    assert "actions exited (signal SIGKILL); restart attempt 1 in 1.0 s" in caplog.text

    clock.now_s = 1.0
    supervisor.check()
    assert stack.restarted == ["actions"] and stack.processes["gateway"] is gateway
    assert f"actions restarted as pid {stack.processes['actions'].pid}" in caplog.text


def test_a_process_that_keeps_crashing_waits_longer_each_time(clock, caplog):
    stack = FakeStack("actions")
    supervisor = Supervisor(stack, RestartPolicy(backoff_first_s=1.0), clock=clock)
    caplog.set_level(logging.INFO, logger="walletbot.supervisor")
    for attempt, delay_s in ((1, 1.0), (2, 2.0), (3, 4.0)):
        stack.crash("actions", 1)
        supervisor.check()
        assert f"restart attempt {attempt} in {delay_s:.1f} s" in caplog.text
        clock.now_s += delay_s - 0.01
        supervisor.check()
        assert len(stack.restarted) == attempt - 1  # not yet
        clock.now_s += 0.01
        supervisor.check()
        assert len(stack.restarted) == attempt


def test_the_supervisor_gives_up_on_a_crash_loop_stops_everything_and_says_so(clock, caplog):
    stack = FakeStack("gateway", "actions")
    supervisor = Supervisor(stack, RestartPolicy(backoff_first_s=0.0, crashes_max=3), clock=clock)
    caplog.set_level(logging.INFO, logger="walletbot.supervisor")
    stack.crash("actions", 1)
    supervisor.check()  # attempt 1, restarted at once
    stack.crash("actions", 1)
    supervisor.check()  # attempt 2
    stack.crash("actions", 1)
    supervisor.start_background(poll_s=0.01)  # as the tests' stacks are watched
    deadline = time.monotonic() + 5
    while supervisor.gave_up is None and time.monotonic() < deadline:
        time.sleep(0.01)
    supervisor.halt()
    assert isinstance(supervisor.gave_up, CrashLoop) and stack.stopped
    assert "actions exited (exit code 1): actions crashed 3 times within 60 s; giving up and stopping everything" in caplog.text


def test_the_warden_kills_the_groups_it_still_watches_when_its_pipe_ends():
    assert guard(io.StringIO("+10 500\n+11 501\n-10\n+12 502\ngarbage\n")) == {11: 501, 12: 502}


def test_a_group_whose_number_now_belongs_to_another_process_is_never_signalled():
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        kill_group(stranger.pid, signal.SIGKILL, leader_start=start_time(stranger.pid) + 1)  # "ours" started at another time
        assert stranger.poll() is None
        kill_group(stranger.pid, signal.SIGKILL, leader_start=start_time(stranger.pid))
        assert stranger.wait(timeout=5) == -signal.SIGKILL
    finally:
        stranger.kill()
        stranger.wait()
