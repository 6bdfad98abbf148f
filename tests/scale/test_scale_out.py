"""Scale-out on Rasa's own mechanism: two Rasa servers sharing a PostgreSQL tracker store and a Redis
lock store, the ledger and queue on PostgreSQL, one action server, and the gateway routing each
conversation to one replica (the layout `make run-scaled` and docker-compose.yml start).

Needs WALLETBOT_TEST_POSTGRES_URL and WALLETBOT_TEST_REDIS_URL (skipped when unset, failing when set
but unreachable). The ledger lives in a fresh schema and the tracker in a fresh database, both dropped
afterwards, so runs repeat cleanly.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bot.db import make_engine, make_session_factory, normalize_url, upgrade_database, with_search_path
from bot.gateway.rasa_client import replica_index
from bot.identity import issue_app_token
from bot.runner import Stack, rasa_api_token
from bot.settings import load_settings
from bot.wallet import SqlAlchemyUnitOfWork, get_balance, seed_demo
from tests.conftest import free_port, service_url

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REPLICAS = 2
SCALED_STARTUP_TIMEOUT_S = 480.0  # two Rasa servers load their models side by side


def _reachable_postgres(url: str):
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 — any failure to connect fails the suite
        engine.dispose()
        pytest.fail(f"WALLETBOT_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}")
    return engine


def _reachable_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"WALLETBOT_TEST_REDIS_URL is set but Redis is unreachable: {exc}")


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    postgres = normalize_url(service_url("WALLETBOT_TEST_POSTGRES_URL"))
    redis_url = service_url("WALLETBOT_TEST_REDIS_URL")
    admin = _reachable_postgres(postgres)
    _reachable_redis(redis_url)

    run = uuid.uuid4().hex[:10]
    schema, tracker_db = f"scale_{run}", f"walletbot_tracker_{run}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{tracker_db}"')
    tracker_url = make_url(postgres).set(drivername="postgresql", database=tracker_db, query={})

    workdir = tmp_path_factory.mktemp("scaled")
    rasa_ports = [free_port() for _ in range(REPLICAS)]
    env = {
        **os.environ,
        "WALLETBOT_PORT": str(free_port()),
        "RASA_PORT": str(rasa_ports[0]),
        "RASA_URLS": ",".join(f"http://127.0.0.1:{port}" for port in rasa_ports),
        "ACTIONS_PORT": str(free_port()),
        "DATABASE_URL": with_search_path(postgres, schema),
        "TRACKER_STORE_URL": tracker_url.render_as_string(hide_password=False),
        "LOCK_STORE_URL": redis_url,
        "WALLETBOT_SECRET": "scale-test-secret-0123456789abcdefghijklmn",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("RASA_URL", "ACTIONS_URL", "TELEGRAM_TOKEN", "WECHAT_TOKEN"):
        env.pop(name, None)
    settings = load_settings(env)
    upgrade_database(settings.database_url)
    engine = make_engine(settings.database_url)
    seed_demo(SqlAlchemyUnitOfWork(make_session_factory(engine), settings=settings))
    stack = Stack(settings, env=env, log_dir=workdir / "log")
    try:
        stack.start()
        stack.wait_healthy(timeout_s=SCALED_STARTUP_TIMEOUT_S)
        yield stack, lambda: SqlAlchemyUnitOfWork(make_session_factory(engine), settings=settings)
    finally:
        stack.stop()
        engine.dispose()
        for log in sorted((workdir / "log").glob("*.log")):
            sys.stderr.write(f"\n---- {log.name} (tail) ----\n{log.read_text(errors='replace')[-2000:]}\n")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{tracker_db}" WITH (FORCE)')
        admin.dispose()


class Customer:
    def __init__(self, stack: Stack, customer_id: str) -> None:
        token = issue_app_token(stack.settings.secret, customer_id)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{stack.settings.port}", timeout=60.0,
                                 headers={"Authorization": f"Bearer {token}"})
        self.conversation_id = ""

    def say(self, text: str) -> list[dict]:
        return self._post("/api/chat/messages", {"text": text})

    def click(self, messages: list[dict], title: str) -> list[dict]:
        holder = next(m for m in reversed(messages) if any(b["title"] == title for b in m.get("buttons", [])))
        button = next(b for b in holder["buttons"] if b["title"] == title)
        return self._post("/api/chat/messages", {"button": {"message_id": holder["id"], "id": button["id"]}})

    def pin(self, pin: str) -> list[dict]:
        return self._post("/api/chat/pin", {"pin": pin})

    def _post(self, path: str, body: dict) -> list[dict]:
        response = self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        self.conversation_id = response.json()["conversation_id"]
        return response.json()["messages"]


def texts(messages: list[dict]) -> str:
    return "\n".join(m["text"] for m in messages)


def test_both_replicas_are_up_behind_one_healthy_gateway(scaled):
    stack, _ = scaled
    assert {"rasa-1", "rasa-2"} <= set(stack.processes)
    for url in stack.settings.rasa_urls:
        assert httpx.get(url, timeout=5).status_code == 200


def test_a_half_filled_transfer_survives_its_replica_being_killed_and_nothing_is_answered_twice(scaled):
    stack, uow = scaled
    zhangsan = Customer(stack, "demo-zhangsan")
    before = get_balance(uow(), "demo-zhangsan").balance_fen, get_balance(uow(), "demo-lisi").balance_fen

    assert "转给谁" in texts(zhangsan.say("我要转账"))
    assert "多少" in texts(zhangsan.say("李四"))  # the form has its recipient, waits for the amount

    own = replica_index(zhangsan.conversation_id, REPLICAS)
    survivor_url = stack.settings.rasa_urls[1 - own]
    stack.stop(f"rasa-{own + 1}", sig=signal.SIGKILL)  # the conversation's replica dies mid-dialogue

    summary = zhangsan.say("300块")  # the other replica fills the same form from the shared tracker
    assert "¥300.00" in texts(summary) and "2002" in texts(summary), texts(summary)  # 李四's wallet, masked
    asks = zhangsan.click(summary, "确认转账")
    assert any((m.get("custom") or {}).get("type") == "pin_request" for m in asks), texts(asks)
    assert "转账成功" in texts(zhangsan.pin("246810"))

    after = get_balance(uow(), "demo-zhangsan").balance_fen, get_balance(uow(), "demo-lisi").balance_fen
    assert after == (before[0] - 30_000, before[1] + 30_000)  # moved once

    transcript = zhangsan.http.get("/api/chat/messages").json()["messages"]
    customer_texts = [m["text"] for m in transcript if m["sender"] == "customer"]
    assert [customer_texts.count(t) for t in ("我要转账", "李四", "300块")] == [1, 1, 1]
    bot_texts = [m["text"] for m in transcript if m["sender"] == "bot"]
    assert sum("¥300.00" in t and "2002" in t for t in bot_texts if "转账成功" not in t) == 1  # one summary
    assert sum("转账成功" in t for t in bot_texts) == 1

    gateway_log = (stack.log_dir / "gateway.log").read_text(errors="replace")
    assert f"unreachable for conversation {zhangsan.conversation_id}" in gateway_log  # its own replica was the dead one

    tracker = httpx.get(f"{survivor_url}/conversations/{zhangsan.conversation_id}/tracker",
                        params={"token": rasa_api_token(stack.settings)}, timeout=30).json()
    user_texts = [e.get("text") for e in tracker["events"] if e["event"] == "user"]
    assert [user_texts.count(t) for t in ("我要转账", "李四", "300块")] == [1, 1, 1], user_texts
