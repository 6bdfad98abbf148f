"""Issue 12.1 through the real stack: the red team's ¥100 summary that paid ¥4,999, replayed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from bot.channel_auth import CHANNEL_PATH
from bot.db import make_engine, make_session_factory
from bot.identity import METADATA_KEY, issue_app_token, sign_identity
from bot.wallet import SqlAlchemyUnitOfWork, get_balance

pytestmark = pytest.mark.e2e


def balance_fen(stack, customer_id: str) -> int:
    factory = make_session_factory(make_engine(stack.settings.database_url))
    return get_balance(SqlAlchemyUnitOfWork(factory, settings=stack.settings), customer_id).balance_fen


def test_a_pin_on_a_100_yuan_summary_pays_100_yuan_whatever_is_posted_to_rasa(stack, gateway_url):
    rasa_url = f"http://127.0.0.1:{stack.settings.rasa_port}"
    customer = httpx.Client(base_url=gateway_url, timeout=60.0, headers={
        "Authorization": f"Bearer {issue_app_token(stack.settings.secret, 'demo-zhangsan')}"})
    before = balance_fen(stack, "demo-zhangsan")

    answer = customer.post("/api/chat/messages", json={"text": "给李四转100块"}).json()
    holder = next(m for m in reversed(answer["messages"]) if any(b["title"] == "确认转账" for b in m.get("buttons", [])))

    # The attacker on the same machine replays the customer's identity (as if read from the tracker file)
    # on a message of their own, straight to Rasa.
    sender = answer["conversation_id"]
    identity = sign_identity(stack.settings.secret, customer_id="demo-zhangsan", sender=sender, text="给李四转100块")
    attack = {"sender": sender, "message": "给李四转4999块", "metadata": {METADATA_KEY: identity}}
    assert httpx.post(f"{rasa_url}{CHANNEL_PATH}", json=attack, timeout=30).status_code == 403
    assert httpx.post(f"{rasa_url}{CHANNEL_PATH}", content=json.dumps(attack).encode(), timeout=30,
                      headers={"X-Walletbot-Signature": "t=1,s=00"}).status_code == 403
    assert httpx.post(f"{rasa_url}/webhooks/rest/webhook", json=attack, timeout=30).status_code == 404

    button = next(b for b in holder["buttons"] if b["title"] == "确认转账")
    sheet = customer.post("/api/chat/messages", json={"button": {"message_id": holder["id"], "id": button["id"]}}).json()["messages"]
    request = next(m["custom"] for m in sheet if (m.get("custom") or {}).get("type") == "pin_request")
    assert "100.00" in request["summary"] and "李四" in request["summary"]
    assert customer.post("/api/chat/pin", json={"pin": "246810"}).status_code == 200
    assert balance_fen(stack, "demo-zhangsan") == before - 10_000


def test_rasas_token_is_not_on_its_command_line_and_its_files_are_private(stack):
    rasa = stack.processes["rasa"]
    argv = Path(f"/proc/{rasa.pid}/cmdline").read_bytes().decode(errors="replace")
    assert stack.settings.rasa_api_token not in argv and stack.settings.rasa_channel_key not in argv
    tracker = stack.log_dir.parent / f"rasa-tracker-{stack.settings.rasa_port}.db"
    assert tracker.exists() and stat.S_IMODE(tracker.stat().st_mode) == 0o600
    for log in stack.log_dir.glob("*.log"):
        assert stat.S_IMODE(log.stat().st_mode) == 0o600, log
