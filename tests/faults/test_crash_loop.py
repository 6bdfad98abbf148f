"""A process that cannot start at all: the supervisor gives up after the limit and stops everything.

A small stack (gateway and action server, no Rasa) whose action server finds its port taken, so it
exits at once every time it is started, as it would with a broken deployment.
"""

from __future__ import annotations

import logging
import socket
import time

import pytest

from bot.runner import Stack
from bot.settings import load_settings
from bot.supervisor import CrashLoop, RestartPolicy, Supervisor
from bot.warden import group_alive
from tests.faults.stacks import stack_env

pytestmark = pytest.mark.e2e

FAST_POLICY = RestartPolicy(backoff_first_s=0.2, backoff_max_s=1.0, crashes_max=5, crash_window_s=60.0)
GIVE_UP_WITHIN_S = 60.0


def test_an_action_server_that_crashes_at_once_every_time_makes_the_supervisor_give_up_and_stop_everything(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="walletbot.supervisor")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        env = stack_env(tmp_path, ACTIONS_PORT=str(squatter.getsockname()[1]))
        stack = Stack(load_settings(env), env=env, log_dir=tmp_path / "log")
        supervisor = Supervisor(stack, FAST_POLICY)
        try:
            stack.start_gateway()
            stack.start_actions()
            gateway_pid = stack.processes["gateway"].pid
            supervisor.start_background(poll_s=0.1)
            deadline = time.monotonic() + GIVE_UP_WITHIN_S
            while supervisor.gave_up is None and time.monotonic() < deadline:
                time.sleep(0.2)
            supervisor.halt()
        finally:
            stack.stop()

    assert isinstance(supervisor.gave_up, CrashLoop), caplog.text
    assert supervisor.gave_up.name == "actions" and supervisor.gave_up.crashes == FAST_POLICY.crashes_max
    attempts = [line for line in caplog.messages if line.startswith("supervisor: actions exited (exit code 1); restart attempt")]
    assert len(attempts) == FAST_POLICY.crashes_max - 1, caplog.text
    assert ("supervisor: actions exited (exit code 1): actions crashed 5 times within 60 s; "
            "giving up and stopping everything") in caplog.messages
    assert stack.processes["gateway"].pid == gateway_pid and stack.processes["gateway"].poll() is not None
    assert not any(group_alive(process.pid) for process in stack.processes.values())
