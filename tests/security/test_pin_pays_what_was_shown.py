"""Issue 12.1: a PIN pays exactly the draft whose summary the customer saw, as the ledger describes it.

The gateway on a real SQLite database; Rasa is played by `httpx.MockTransport` and may say anything,
as a compromised or replayed Rasa turn would (the red team's ¥100 summary that paid ¥4,999).
"""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.channel_auth import CHANNEL_PATH, SIGNATURE_HEADER, body_is_signed
from bot.db import make_engine, make_session_factory, upgrade_database
from bot.gateway.app import create_app
from bot.gateway.rasa_client import RasaClient
from bot.identity import issue_app_token
from bot.phrases import say
from bot.settings import load_settings
from bot.wallet import SqlAlchemyUnitOfWork, create_transfer_draft, get_balance, resolve_recipient, seed_demo
from tests.conftest import free_port

ENV = {
    "WALLETBOT_SECRET": "security-secret-0123456789abcdefghijklmnop",
    "WALLETBOT_PIN_HASH_TIME_COST": "1",
    "WALLETBOT_PIN_HASH_MEMORY_KIB": "1024",
    "WALLETBOT_PIN_HASH_PARALLELISM": "1",
}
ZHANGSAN_PIN = "246810"


class ScriptedRasa:
    """Answers each customer message with the next scripted reply; keeps the raw requests."""

    def __init__(self) -> None:
        self.replies: list[list[dict]] = []
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == CHANNEL_PATH:
            self.requests.append(request)
            return httpx.Response(200, json=self.replies.pop(0) if self.replies else [{"text": "好的"}])
        return httpx.Response(200, json={})


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("security") / "template.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    engine = make_engine(url)
    seed_demo(SqlAlchemyUnitOfWork(make_session_factory(engine), settings=load_settings({**ENV, "DATABASE_URL": url})))
    engine.dispose()
    return path


@pytest.fixture()
def client(template_db, tmp_path):
    path = tmp_path / "gateway.db"
    shutil.copy(template_db, path)
    url = f"sqlite:///{path}"
    settings = load_settings({**ENV, "DATABASE_URL": url, "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())})
    engine = make_engine(url)
    app = create_app(settings, session_factory=make_session_factory(engine))
    with TestClient(app) as test_client:
        rasa = ScriptedRasa()
        app.state.chat.rasa = RasaClient(
            "http://rasa.test", timeout_s=5, channel_key=settings.rasa_channel_key, transport=httpx.MockTransport(rasa.handler)
        )
        test_client.rasa, test_client.settings = rasa, settings
        test_client.uow = lambda: SqlAlchemyUnitOfWork(make_session_factory(engine), settings=settings)
        test_client.headers.update({"Authorization": f"Bearer {issue_app_token(settings.secret, 'demo-zhangsan')}"})
        yield test_client
    engine.dispose()


def draft_to_lisi(client, amount_fen: int):
    lisi = resolve_recipient(client.uow(), "demo-zhangsan", "李四")[0]
    return create_transfer_draft(client.uow(), customer_id="demo-zhangsan", recipient_wallet_id=lisi.wallet_id,
                                 amount_fen=amount_fen, channel="web")


def summary_reply(draft_id: str, text: str = "请确认：向 李四 转账 ¥100.00") -> list[dict]:
    return [{"text": text, "buttons": [
        {"title": "确认转账", "payload": f'/affirm{{"draft_id": "{draft_id}"}}'},
        {"title": "取消", "payload": f'/cancel{{"draft_id": "{draft_id}"}}'},
    ]}]


def pin_request(draft_id: str, summary: str) -> list[dict]:
    return [{"text": say("pin_prompt")}, {"custom": {"type": "pin_request", "kind": "pin", "draft_id": draft_id, "summary": summary}}]


def say_text(client, text: str) -> list[dict]:
    response = client.post("/api/chat/messages", json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def balance_fen(client, customer_id: str) -> int:
    return get_balance(client.uow(), customer_id).balance_fen


def test_a_pin_request_for_a_draft_the_customer_never_saw_is_refused(client):
    shown = draft_to_lisi(client, 10_000)  # the ¥100 summary the customer reads
    client.rasa.replies.append(summary_reply(shown.draft_id))
    say_text(client, "给李四转100块")
    planted = draft_to_lisi(client, 499_900)  # what a replayed identity made Rasa draft behind their back
    client.rasa.replies.append(pin_request(planted.draft_id, "向 李四 转账 ¥100.00"))

    replies = say_text(client, "确认")

    assert replies[-1]["text"] == say("draft_expired")
    assert not any((m.get("custom") or {}).get("type") == "pin_request" for m in replies)
    answer = client.post("/api/chat/pin", json={"pin": ZHANGSAN_PIN})
    assert answer.status_code == 409  # nothing awaits a PIN: no draft can be paid
    assert balance_fen(client, "demo-zhangsan") == 1_234_567


def test_the_pin_sheet_names_the_ledgers_amount_and_recipient_not_rasas(client):
    shown = draft_to_lisi(client, 10_000)
    client.rasa.replies.append(summary_reply(shown.draft_id))
    say_text(client, "给李四转100块")
    client.rasa.replies.append(pin_request(shown.draft_id, "向 李四 转账 ¥1.00"))

    sheet = say_text(client, "确认")[-1]["custom"]

    assert sheet["draft_id"] == shown.draft_id
    assert "100.00" in sheet["summary"] and "李四" in sheet["summary"] and "¥1.00" not in sheet["summary"]
    answer = client.post("/api/chat/pin", json={"pin": ZHANGSAN_PIN})
    assert answer.status_code == 200, answer.text
    assert balance_fen(client, "demo-zhangsan") == 1_234_567 - 10_000


def test_a_superseded_summary_cannot_be_paid(client):
    first = draft_to_lisi(client, 100)
    client.rasa.replies.append(summary_reply(first.draft_id, "请确认：向 李四 转账 ¥1.00"))
    say_text(client, "给李四转1块")
    second = draft_to_lisi(client, 200_000)
    client.rasa.replies.append(summary_reply(second.draft_id, "请确认：向 李四 转账 ¥2,000.00"))
    say_text(client, "改成2000")
    client.rasa.replies.append(pin_request(first.draft_id, "向 李四 转账 ¥1.00"))

    assert say_text(client, "确认")[-1]["text"] == say("draft_expired")
    assert client.post("/api/chat/pin", json={"pin": ZHANGSAN_PIN}).status_code == 409


def test_every_message_to_rasa_is_signed_and_carries_an_identity_for_its_own_text(client):
    say_text(client, "查余额")
    request = client.rasa.requests[-1]
    assert body_is_signed(client.settings.rasa_channel_key, request.content, request.headers[SIGNATURE_HEADER])
    assert not body_is_signed("another-key", request.content, request.headers[SIGNATURE_HEADER])
    claim = json.loads(request.content)["metadata"]["walletbot_identity"]
    assert claim["customer_id"] == "demo-zhangsan" and claim["text_sha256"] and claim["mid"]
