"""Starting the three processes: Rasa (in .venv-rasa), the action server and the gateway.

`walletbot run` uses `serve()`; the end-to-end tests use `Stack` to start the same processes on
free ports against a temporary database.
"""

from __future__ import annotations

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

from bot.settings import ROOT, VAR_DIR, Settings

RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
MODEL_PATH = ROOT / "models" / "walletbot.tar.gz"
STARTUP_TIMEOUT_S = 180.0


class StartupFailed(RuntimeError):
    pass


def rasa_api_token(settings: Settings) -> str:
    return settings.rasa_api_token


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
    return path


@dataclass
class Stack:
    """Rasa, the action server and the gateway as child processes."""

    settings: Settings
    env: dict[str, str]
    log_dir: Path = VAR_DIR / "log"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        env = {**self.env, **(extra_env or {})}
        self.processes[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_rasa(self) -> None:
        if not RASA_BIN.exists():
            raise StartupFailed(f"{RASA_BIN} is missing: run `make run` (or `make setup`) first")
        if not MODEL_PATH.exists():
            raise StartupFailed(f"{MODEL_PATH} is missing: run `make train` first")
        replicas = self.rasa_replicas()
        if len(replicas) > 1 and not (self.settings.tracker_store_url and self.settings.lock_store_url):
            raise StartupFailed("several Rasa servers (RASA_URLS) need a shared TRACKER_STORE_URL and LOCK_STORE_URL")
        endpoints = write_endpoints(self.settings, self.log_dir.parent / f"endpoints-{self.settings.rasa_port}.yml")
        rasa_env = {"TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
        if len(replicas) > 1:
            # Several servers on one machine: each runs TensorFlow on one thread (Rasa reads these), so
            # the replicas share the cores instead of oversubscribing them with thread pools.
            for variable in ("TF_INTER_OP_PARALLELISM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS"):
                rasa_env[variable] = self.env.get(variable, "1")
        for name, port in replicas:
            self._spawn(
                name,
                [
                    str(RASA_BIN), "run", "--enable-api", "--auth-token", rasa_api_token(self.settings),
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
        url = f"http://127.0.0.1:{self.settings.port}/healthz"
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise StartupFailed(f"{name} exited with {process.returncode}; see {self.log_dir / (name + '.log')}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200 and self._replicas_up():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise StartupFailed(f"not healthy after {timeout_s:.0f} s; logs in {self.log_dir}")

    def _replicas_up(self) -> bool:
        """With several Rasa servers the gateway is healthy once one answers; startup waits for all."""
        if len(self.settings.rasa_urls) < 2:
            return True
        return all(httpx.get(f"{url}/", timeout=2.0).status_code == 200 for url in self.settings.rasa_urls)

    def stop(self, name: str | None = None, sig: int = signal.SIGTERM) -> None:
        names = [name] if name else list(self.processes)
        for key in names:
            process = self.processes.get(key)
            if process and process.poll() is None:
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    pass
        for key in names:
            process = self.processes.get(key)
            if process:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def serve(settings: Settings) -> int:
    """`walletbot run`: migrate, seed an empty database, start everything, stop all on Ctrl-C."""
    from bot.db import upgrade_database

    upgrade_database(settings.database_url)
    _seed_if_empty()
    stack = Stack(settings, env=dict(os.environ))
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # stop the children on SIGTERM too
    stack.start()
    print(f"walletbot 正在启动… 日志在 {stack.log_dir}")
    try:
        stack.wait_healthy()
        print(f"walletbot 已就绪: http://{settings.host}:{settings.port}/  (Ctrl-C 停止)")
        while all(p.poll() is None for p in stack.processes.values()):
            time.sleep(1.0)
        failed = [name for name, p in stack.processes.items() if p.poll() is not None]
        print(f"进程已退出: {', '.join(failed)}；日志在 {stack.log_dir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except StartupFailed as exc:
        print(f"启动失败: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


def _seed_if_empty() -> None:
    from bot.db import get_session_factory
    from bot.wallet import SqlAlchemyUnitOfWork, customer_exists, seed_demo

    uow = SqlAlchemyUnitOfWork(get_session_factory())
    if not customer_exists(uow, "demo-zhangsan"):
        seed_demo(SqlAlchemyUnitOfWork(get_session_factory()))
    from bot.handoff.agents import seed_demo_agents

    seed_demo_agents(get_session_factory())  # agent1 / agent1-pass (idempotent)
