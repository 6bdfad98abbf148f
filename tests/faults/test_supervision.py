"""A crash is not an outage: the stack `walletbot run` supervises gets its processes back by itself.

One module stack (gateway, Rasa, action server) watched by the same `Supervisor` and `RestartPolicy`
as `walletbot run`. A process is killed the way the kernel's OOM killer would: `SIGKILL` to its pid
only, so the action server's Sanic workers are left behind holding its port, as they would be.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import httpx
import pytest

from bot.supervisor import RestartPolicy, Supervisor
from tests.faults.stacks import ChatClient, own_stack, texts

pytestmark = pytest.mark.e2e

BACK_WITHIN_S = 30.0  # 1 s of backoff, then the process's own start-up
ZHANGSAN_BALANCE = "¥12,345.67"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with own_stack(tmp_path_factory.mktemp("supervised")) as stack:
        supervisor = Supervisor(stack, RestartPolicy())
        supervisor.start_background()
        try:
            yield stack
        finally:
            supervisor.halt()


@pytest.fixture()
def zhangsan(world):
    client = ChatClient(f"http://127.0.0.1:{world.settings.port}", world.settings.secret, "demo-zhangsan")
    yield client
    client.close()


@pytest.fixture(autouse=True)
def supervisor_log(caplog):
    caplog.set_level(logging.INFO, logger="walletbot.supervisor")
    return caplog


def kill_leader(world, name: str) -> int:
    pid = world.processes[name].pid
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_until_back(world, name: str, old_pid: int) -> float:
    """Seconds until `name` runs under a new pid and the gateway's /healthz says all three answer."""
    started = time.monotonic()
    while time.monotonic() - started < BACK_WITHIN_S:
        process = world.processes[name]
        if process.pid != old_pid and process.poll() is None and world.healthy():
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail(f"{name} not back within {BACK_WITHIN_S:.0f} s; see {world.log_dir / (name + '.log')}")


def test_the_action_server_killed_with_sigkill_is_restarted_and_balances_are_answered_again(world, zhangsan, supervisor_log):
    assert ZHANGSAN_BALANCE in texts(zhangsan.say("我的余额还有多少"))
    old_pid = kill_leader(world, "actions")

    wait_until_back(world, "actions", old_pid)
    assert ZHANGSAN_BALANCE in texts(zhangsan.say("我的余额还有多少"))
    assert "actions exited (signal SIGKILL); restart attempt 1 in 1.0 s" in supervisor_log.text
    assert f"actions restarted as pid {world.processes['actions'].pid}" in supervisor_log.text


def test_the_gateway_killed_with_sigkill_comes_back_on_the_same_port(world, zhangsan, supervisor_log):
    old_pid = kill_leader(world, "gateway")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{world.settings.port}/healthz", timeout=5)

    wait_until_back(world, "gateway", old_pid)
    assert ZHANGSAN_BALANCE in texts(zhangsan.say("我的余额还有多少"))
    assert "gateway exited (signal SIGKILL); restart attempt 1 in 1.0 s" in supervisor_log.text


def test_the_other_processes_keep_running_while_one_is_restarted(world):
    before = {name: process.pid for name, process in world.processes.items()}
    old_pid = kill_leader(world, "actions")
    wait_until_back(world, "actions", old_pid)
    after = {name: process.pid for name, process in world.processes.items()}
    assert {name: pid for name, pid in after.items() if name != "actions"} == {
        name: pid for name, pid in before.items() if name != "actions"
    }
