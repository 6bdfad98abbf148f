"""The soak's stack: gateway, Rasa and action server under the same `Supervisor` as `walletbot run`,
Telegram in webhook mode against the fake Bot API and WeChat against the fake official-account API.

Two layouts: `embedded` (a fresh SQLite ledger, Rasa's SQLite tracker file, one Rasa) and `scaled`
(the `make run-scaled` layout on free ports: two Rasa replicas on a fresh PostgreSQL tracker database,
a Redis lock store, the ledger in a fresh PostgreSQL schema; `bench.stack.ScaledDatabases`).

The database holds the demo world (agent1 included) and the soak's own customers: each with a PIN of
its own (so a PIN found anywhere names its owner), ¥50,000, two saved recipients among the others and
the phone numbers of the rest as new recipients.
"""

from __future__ import annotations

import random
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.stack import ScaledDatabases, check_redis
from bot.db import make_engine, make_session_factory, upgrade_database
from bot.handoff.agents import seed_demo_agents
from bot.runner import Stack
from bot.settings import Settings, load_settings
from bot.supervisor import RestartPolicy, Supervisor
from bot.wallet import SqlAlchemyUnitOfWork, open_customer, save_recipient, seed_demo, settlement_wallet_id, transfer
from tests.conftest import free_port, stack_env
from tests.conversations.state import WorldState
from tests.conversations.stack import (
    TELEGRAM_SECRET,
    TELEGRAM_TOKEN,
    WECHAT_APP_ID,
    WECHAT_APP_SECRET,
    WECHAT_TOKEN,
)
from tests.telegram.fake_bot_api import FakeBotApi
from tests.wechat.fake_wechat_api import FakeWeChatApi, ServerThread, WeChatPlatform

SECRET = "soak-test-secret-0123456789abcdefghijklmnopq"
OPENING_FEN = 5_000_000  # ¥50,000 each
STARTUP_TIMEOUT_S = 300.0
SCALED_STARTUP_TIMEOUT_S = 480.0
QUEUE_WAIT_TIMEOUT_S = 90  # short, so "queued past the timeout" can be checked within a run
CHANNELS = ("web", "telegram", "wechat")
NAMES = ("周芳", "吴磊", "郑丽", "冯强", "陈静", "褚伟", "卫东", "蒋涛", "沈梅", "韩雪", "杨帆", "朱琳",
         "秦岚", "许诺", "何平", "吕方", "施展", "孔亮")
DEMO_PINS = frozenset({"246810", "135790", "112233"})
# PINs from 900000 up: above every amount in fen the soak moves (at most ¥8,000), so an amount written
# into a log or a JSON column is never taken for a leaked PIN by the checks.
PIN_FIRST = 900_000
WARM_UP = ("你好", "查余额")


@dataclass(frozen=True)
class SoakCustomer:
    customer_id: str
    name: str
    phone: str
    pin: str
    channel: str
    saved: tuple[str, ...]  # aliases of saved recipients (other soak customers' names)
    new_phones: tuple[str, ...]  # phones of soak customers who are not saved recipients


def soak_customers(count: int, rng: random.Random) -> list[SoakCustomer]:
    if not 3 <= count <= len(NAMES):
        raise ValueError(f"between 3 and {len(NAMES)} customers, not {count}")
    pins: list[str] = []
    while len(pins) < count:
        pin = str(rng.randint(PIN_FIRST, 999_999))
        if pin not in pins and pin not in DEMO_PINS and len(set(pin)) >= 4:
            pins.append(pin)
    phones = [f"1391234{n:04d}" for n in range(1, count + 1)]
    customers = []
    for n in range(count):
        saved = (NAMES[(n + 1) % count], NAMES[(n + 2) % count])
        others = [phones[m] for m in range(count) if m != n and NAMES[m] not in saved]
        customers.append(SoakCustomer(f"soak-c{n + 1:02d}", NAMES[n], phones[n], pins[n], CHANNELS[n % 3], saved, tuple(others)))
    return customers


def seed(settings: Settings, customers: list[SoakCustomer]) -> None:
    upgrade_database(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        sessions = make_session_factory(engine)

        def uow() -> SqlAlchemyUnitOfWork:
            return SqlAlchemyUnitOfWork(sessions, settings=settings)

        seed_demo(uow())
        seed_demo_agents(sessions, settings)
        settlement = settlement_wallet_id(uow())
        wallets = {}
        for n, customer in enumerate(customers, start=1):
            view = open_customer(
                uow(), customer_id=customer.customer_id, name=customer.name, phone=customer.phone,
                id_number=f"11010119850101{n:04d}", pin=customer.pin, wallet_no=f"88000000{n:08d}",
            )
            wallets[customer.name] = view.wallet_id
            transfer(uow(), transfer_id=f"soak-fund-{customer.customer_id}", source_wallet_id=settlement,
                     target_wallet_id=view.wallet_id, amount_fen=OPENING_FEN, kind="topup")
        for customer in customers:
            for alias in customer.saved:
                save_recipient(uow(), customer_id=customer.customer_id, wallet_id=wallets[alias], alias=alias)
    finally:
        engine.dispose()


@dataclass
class SoakStack:
    """What the channel clients of tests/conversations/channels.py need, plus the supervisor."""

    stack: Stack
    settings: Settings
    telegram: FakeBotApi
    wechat_api: FakeWeChatApi
    wechat: WeChatPlatform
    world: WorldState
    workdir: Path
    supervisor: Supervisor
    layout: str
    databases: ScaledDatabases | None = None
    startup_s: float = 0.0
    _wechat_server: ServerThread | None = None
    _stopped: bool = field(default=False)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def process_names(self) -> list[str]:
        return list(self.stack.processes)

    def healthy(self) -> bool:
        return self.stack.healthy()

    def wait_healthy(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stack.healthy():
                return True
            time.sleep(0.5)
        return False

    def wait_gateway(self, timeout_s: float) -> bool:
        """Until the gateway answers at all (Rasa may still be loading: customers and agents talk anyway)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.gateway_url}/healthz", timeout=2.0)
                return True
            except httpx.HTTPError:
                time.sleep(0.5)
        return False

    def tracker_db_files(self) -> list[Path]:
        return sorted(self.workdir.glob("rasa-tracker-*.db*"))

    def stop_processes(self) -> None:
        """Stop supervising, then the processes (the databases stay for the checks)."""
        if self._stopped:
            return
        self._stopped = True
        self.supervisor.halt()
        self.stack.stop("gateway")
        for name in [name for name in self.stack.processes if name.startswith("rasa")]:
            self.stack.stop(name, signal.SIGKILL)  # a throwaway server; SIGTERM takes Rasa ~7 s
        self.stack.stop()

    def close(self) -> None:
        """Everything else: fakes, readers, the scaled layout's databases."""
        self.stop_processes()
        self.world.close()
        self.wechat.close()
        if self._wechat_server is not None:
            self._wechat_server.__exit__(None, None, None)
        self.telegram.stop()
        if self.databases is not None:
            self.databases.drop_quietly()


def start(workdir: Path, customers: list[SoakCustomer], *, scaled: bool = False,
          postgres_url: str = "", redis_url: str = "") -> SoakStack:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    telegram = FakeBotApi(port=free_port()).start()
    wechat_api = FakeWeChatApi(WECHAT_APP_ID, WECHAT_APP_SECRET)
    wechat_server = ServerThread(wechat_api.app(), free_port()).__enter__()
    stack: Stack | None = None
    databases: ScaledDatabases | None = None
    try:
        port = free_port()
        extra: dict[str, str | None] = {}
        if scaled:
            if not postgres_url or not redis_url:
                raise RuntimeError("the scaled soak needs WALLETBOT_TEST_POSTGRES_URL and WALLETBOT_TEST_REDIS_URL")
            check_redis(redis_url)
            databases = ScaledDatabases(postgres_url, f"soak_{uuid.uuid4().hex[:8]}")
            databases.create()
            rasa_ports = [free_port(), free_port()]
            extra = {**databases.env(redis_url), "RASA_PORT": str(rasa_ports[0]),
                     "RASA_URLS": ",".join(f"http://127.0.0.1:{p}" for p in rasa_ports)}
        env = stack_env(
            workdir, SECRET,
            WALLETBOT_PORT=str(port),
            TELEGRAM_TOKEN=TELEGRAM_TOKEN,
            TELEGRAM_API_BASE_URL=telegram.base_url,
            TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
            TELEGRAM_SECRET_TOKEN=TELEGRAM_SECRET,
            WECHAT_TOKEN=WECHAT_TOKEN,
            WECHAT_APP_ID=WECHAT_APP_ID,
            WECHAT_APP_SECRET=WECHAT_APP_SECRET,
            WECHAT_API_BASE_URL=wechat_server.url,
            WECHAT_AES_KEY=None,
            WALLETBOT_QUEUE_WAIT_TIMEOUT_S=str(QUEUE_WAIT_TIMEOUT_S),
            WALLETBOT_FAULT_INJECT=None,
            **extra,
        )
        settings = load_settings(env)
        seed(settings, customers)
        stack = Stack(settings, env=env, log_dir=workdir / "log")
        supervisor = Supervisor(stack, RestartPolicy())
        stack.start()
        supervisor.start_background()
        if not _wait(stack, SCALED_STARTUP_TIMEOUT_S if scaled else STARTUP_TIMEOUT_S):
            raise RuntimeError(f"the soak stack was not healthy in time; logs in {workdir / 'log'}")
        wechat = WeChatPlatform(f"http://127.0.0.1:{port}/wechat", WECHAT_TOKEN, "0" * 43, WECHAT_APP_ID, http=httpx.Client(timeout=60.0))
        running = SoakStack(stack, settings, telegram, wechat_api, wechat, WorldState(settings), workdir, supervisor,
                            "scaled" if scaled else "embedded", databases, _wechat_server=wechat_server)
    except BaseException:
        if stack is not None:
            stack.stop()
        wechat_server.__exit__(None, None, None)
        telegram.stop()
        if databases is not None:
            databases.drop_quietly()
        raise
    _warm_up(running)
    running.startup_s = time.monotonic() - started
    return running


def _wait(stack: Stack, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stack.healthy():
            return True
        time.sleep(0.5)
    return False


def _warm_up(running: SoakStack) -> None:
    """The first answers of a fresh Rasa are slow; a demo customer pays for them, not the soak's."""
    from bot.identity import issue_app_token

    headers = {"Authorization": f"Bearer {issue_app_token(running.settings.secret, 'demo-wangwu')}"}
    with httpx.Client(base_url=running.gateway_url, timeout=120.0, headers=headers) as http:
        for text in WARM_UP:
            http.post("/api/chat/messages", json={"text": text})
