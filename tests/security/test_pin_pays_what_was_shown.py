"""Issue 12.1: a PIN pays exactly the draft whose summary the customer saw, as the ledger describes it.

The gateway on a real SQLite database; Rasa is played by `httpx.MockTransport` and may say anything,
as a compromised or replayed Rasa turn would (the red team's ¥100 summary that paid ¥4,999).
"""

from __future__ import annotations

import json

from bot.channel_auth import SIGNATURE_HEADER, body_is_signed
from bot.phrases import say
from bot.wallet import create_transfer_draft, get_balance, resolve_recipient
from tests.security.conftest import ZHANGSAN_PIN


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
