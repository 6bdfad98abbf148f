"""Starting the three processes: Rasa (in .venv-rasa), the action server and the gateway.

`walletbot run` uses `serve()`; the end-to-end tests use `Stack` to start the same processes on
free ports against a temporary database.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

from bot.channel_auth import KEY_ENV as CHANNEL_KEY_ENV
from bot.channel_auth import RASA_TOKEN_ENV
from bot.settings import ROOT, VAR_DIR, Settings
from bot.supervisor import CrashLoop, Supervisor
from bot.warden import Warden, group_alive, kill_group, start_time

RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
# Files the stack creates (database, Rasa's tracker, logs, endpoints) are readable by their owner only.
PRIVATE_UMASK = 0o077
MODEL_PATH = ROOT / "models" / "walletbot.tar.gz"
STARTUP_TIMEOUT_S = 180.0


class StartupFailed(RuntimeError):
    pass


def rasa_api_token(settings: Settings) -> str:
    return settings.rasa_api_token


def lock_lifetime_s(settings: Settings) -> int:
    """How long a conversation's lock in the shared lock store outlives a Rasa server that died holding
    it. Rasa's default (60 s) exceeds the gateway's wait for Rasa (`rasa_timeout_s`, 30 s): the next
    message of a conversation that was mid-turn on a killed replica waited on the other replica until
    the gateway gave up and queued the customer (found by the chaos soak). A third of the gateway's
    wait lets the other replica take over in time; one gateway already sends a conversation's turns one
    at a time, so the lock only has to cover one turn."""
    return max(5, int(settings.rasa_timeout_s // 3))


def endpoints_config(settings: Settings, *, default_tracker_db: Path | None = None) -> dict:
    """Rasa's endpoints. Without TRACKER_STORE_URL the tracker store is a SQLite file, not memory:
    Rasa's SQL store loads only the current session's events, which keeps a message's cost flat."""
    config: dict = {"action_endpoint": {"url": f"{settings.actions_url}/webhook"}}
    if not settings.tracker_store_url and default_tracker_db is not None:
        config["tracker_store"] = {"type": "SQL", "dialect": "sqlite", "db": str(default_tracker_db)}
    if settings.tracker_store_url:
        url = urlsplit(settings.tracker_store_url)
        dialect = url.scheme.split("+")[0]
        config["tracker_store"] = {
            "type": "SQL",
            "dialect": "postgresql" if dialect in {"postgres", "postgresql"} else dialect,
            "url": url.hostname or "",
            "port": url.port,
            "db": url.path.lstrip("/"),
            "username": url.username or "",
            "password": url.password or "",
        }
    if settings.lock_store_url:
        url = urlsplit(settings.lock_store_url)
        config["lock_store"] = {
            "type": "redis",
            "url": url.hostname or "127.0.0.1",
            "port": url.port or 6379,
            "db": int(url.path.lstrip("/") or 0),
            "password": url.password,
            "key_prefix": "walletbot",
        }
    return config


def write_endpoints(settings: Settings, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tracker_db = path.parent / f"rasa-tracker-{settings.rasa_port}.db"
    path.write_text(yaml.safe_dump(endpoints_config(settings, default_tracker_db=tracker_db), allow_unicode=True))
    path.chmod(0o600)  # may hold the tracker store's and Redis's passwords
    return path


@dataclass
class Stack:
    """Rasa, the action server and the gateway as child processes."""

    settings: Settings
    env: dict[str, str]
    log_dir: Path = VAR_DIR / "log"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # How each process was started (argv, extra environment), so that the supervisor can restart it.
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    # Kills the process groups if this process dies without `stop()` (bot/warden.py).
    warden: Warden | None = None
    leader_starts: dict[int, int] = field(default_factory=dict)  # pid → start time: pids are reused

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        os.chmod(log_path, 0o600)  # also a log file left by an older run
        env = {**self.env, **(extra_env or {})}
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, umask=PRIVATE_UMASK
        )
        self._watched(name, argv, extra_env)
        log.close()  # the child has its own copy

    def start_rasa(self) -> None:
        if not RASA_BIN.exists():
            raise StartupFailed(f"{RASA_BIN} is missing: run `make run` (or `make setup`) first")
        if not MODEL_PATH.exists():
            raise StartupFailed(f"{MODEL_PATH} is missing: run `make train` first")
        replicas = self.rasa_replicas()
        if len(replicas) > 1 and not (self.settings.tracker_store_url and self.settings.lock_store_url):
            raise StartupFailed("several Rasa servers (RASA_URLS) need a shared TRACKER_STORE_URL and LOCK_STORE_URL")
        endpoints = write_endpoints(self.settings, self.log_dir.parent / f"endpoints-{self.settings.rasa_port}.yml")
        # Secrets travel in the environment, never on argv (`ps` shows argv to every user): the API token
        # (rasa_addons/launch.py hands it to `rasa run` in-process) and the key of the gateway's channel.
        rasa_env = {
            "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            RASA_TOKEN_ENV: rasa_api_token(self.settings), CHANNEL_KEY_ENV: self.settings.rasa_channel_key,
        }
        if self.settings.lock_store_url:
            rasa_env["TICKET_LOCK_LIFETIME"] = str(lock_lifetime_s(self.settings))
        if len(replicas) > 1:
            # Several servers on one machine: each runs TensorFlow on one thread (Rasa reads these), so
            # the replicas share the cores instead of oversubscribing them with thread pools.
            for variable in ("TF_INTER_OP_PARALLELISM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS"):
                rasa_env[variable] = self.env.get(variable, "1")
        for name, port in replicas:
            self._spawn(
                name,
                [
                    str(RASA_PYTHON), "-m", "rasa_addons.launch", "--enable-api",
                    "-i", "127.0.0.1", "-p", str(port), "-m", str(MODEL_PATH),
                    "--endpoints", str(endpoints), "--credentials", str(ROOT / "credentials.yml"),
                ],
                rasa_env,
            )

    def rasa_replicas(self) -> list[tuple[str, int]]:
        """(process name, port) of each Rasa server: `rasa-1`, `rasa-2`, … for RASA_URLS, else `rasa`."""
        if len(self.settings.rasa_urls) < 2:
            return [("rasa", self.settings.rasa_port)]
        return [(f"rasa-{n}", urlsplit(url).port or 80) for n, url in enumerate(self.settings.rasa_urls, start=1)]

    def start_actions(self) -> None:
        self._spawn(
            "actions",
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(self.settings.actions_port)],
            {"SANIC_HOST": "127.0.0.1", "ACTION_SERVER_SANIC_WORKERS": "1"},
        )

    def start_gateway(self) -> None:
        self._spawn("gateway", [sys.executable, "-m", "bot.gateway"])

    def start(self) -> None:
        self.start_actions()
        self.start_rasa()
        self.start_gateway()

    def wait_healthy(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise StartupFailed(f"{name} exited with {process.returncode}; see {self.log_dir / (name + '.log')}")
            if self.healthy():
                return
            time.sleep(0.5)
        raise StartupFailed(f"not healthy after {timeout_s:.0f} s; logs in {self.log_dir}")

    def healthy(self) -> bool:
        """The gateway's `/healthz` says all three answer, and (with RASA_URLS) every replica answers."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.settings.port}/healthz", timeout=2.0).status_code == 200 and self._replicas_up()
        except httpx.HTTPError:
            return False

    def _replicas_up(self) -> bool:
        """With several Rasa servers the gateway is healthy once one answers; startup waits for all."""
        if len(self.settings.rasa_urls) < 2:
            return True
        return all(httpx.get(f"{url}/", timeout=2.0).status_code == 200 for url in self.settings.rasa_urls)

    def stop(self, name: str | None = None, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> None:
        """Signal each process group (the leader may be gone while its children live on), wait for it to
        empty, `SIGKILL` what is left after `timeout_s`. Without `name`: everything, and the warden."""
        names = [name] if name else list(self.processes)
        for key in names:
            if key in self.processes:
                self._signal_group(self.processes[key].pid, sig)
        for key in names:
            if key in self.processes:
                self._reap(self.processes[key], timeout_s)
        if name is None and self.warden is not None:
            self.warden.close()
            self.warden = None

    def restart(self, name: str) -> None:
        """Start `name` again exactly as it was started, once what is left of its process group is gone."""
        crashed = self.processes[name]
        self._signal_group(crashed.pid, signal.SIGKILL)  # its leftovers (the action server's workers) hold the port
        self._reap(crashed, timeout_s=0.0)
        argv, extra_env = self.commands[name]
        self._spawn(name, argv, extra_env)

    def _watched(self, name: str, argv: list[str], extra_env: dict[str, str] | None) -> None:
        self.commands[name] = (argv, dict(extra_env or {}))
        pid = self.processes[name].pid  # start_new_session: the pid is the group id
        self.leader_starts[pid] = start_time(pid) or 0
        if self.warden is None:
            self.warden = Warden()
        self.warden.watch(pid)

    def _signal_group(self, pgid: int, sig: int) -> None:
        kill_group(pgid, sig, self.leader_starts.get(pgid, 0))

    def _reap(self, process: subprocess.Popen, timeout_s: float) -> None:
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        if not _group_gone(process.pid, timeout_s=1.0 if process.returncode is not None else 0.0):
            self._signal_group(process.pid, signal.SIGKILL)
            process.wait()
            _group_gone(process.pid, timeout_s=5.0)
        if self.warden is not None:
            self.warden.forget(process.pid)


def _group_gone(pgid: int, timeout_s: float) -> bool:
    """Whether no live process of the group is left, waiting up to `timeout_s`. A zombie counts as
    gone: it holds no port, and reaping the orphaned ones is init's business (seconds on some VMs)."""
    deadline = time.monotonic() + timeout_s
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def serve(settings: Settings) -> int:
    """`walletbot run`: migrate, seed an empty database, start everything, stop all on Ctrl-C."""
    from bot.db import upgrade_database

    os.umask(PRIVATE_UMASK)  # the database file and everything else this run creates: owner only
    upgrade_database(settings.database_url)
    _seed_if_empty()
    stack = Stack(settings, env=dict(os.environ))
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # stop the children on SIGTERM too
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")  # the supervisor's lines
    supervisor = Supervisor(stack)
    stack.start()
    print(f"walletbot 正在启动… 日志在 {stack.log_dir}")
    try:
        _wait_ready(stack, supervisor)
        print(f"walletbot 已就绪: http://{settings.host}:{settings.port}/  (Ctrl-C 停止)")
        supervisor.run()  # restarts what crashes; returns only by an exception
        return 0
    except KeyboardInterrupt:
        return 0
    except CrashLoop as exc:
        print(f"进程反复崩溃，已全部停止: {exc}；日志在 {stack.log_dir}", file=sys.stderr)
        return 1
    except StartupFailed as exc:
        print(f"启动失败: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


def _wait_ready(stack: Stack, supervisor: Supervisor, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    """Like `Stack.wait_healthy`, but a process that exits meanwhile is restarted, not fatal."""
    deadline = time.monotonic() + timeout_s
    while not stack.healthy():
        if time.monotonic() > deadline:
            raise StartupFailed(f"not healthy after {timeout_s:.0f} s; logs in {stack.log_dir}")
        supervisor.check()
        time.sleep(0.5)


def _seed_if_empty() -> None:
    from bot.db import get_session_factory
    from bot.wallet import SqlAlchemyUnitOfWork, customer_exists, seed_demo

    uow = SqlAlchemyUnitOfWork(get_session_factory())
    if not customer_exists(uow, "demo-zhangsan"):
        seed_demo(SqlAlchemyUnitOfWork(get_session_factory()))
    from bot.handoff.agents import seed_demo_agents

    seed_demo_agents(get_session_factory())  # agent1 / agent1-pass (idempotent)
