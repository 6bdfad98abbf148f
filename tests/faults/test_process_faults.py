"""One part of the system dies mid-conversation: the action server, Rasa, the gateway itself.

The module starts its own gateway, Rasa and action server (a private SQLite database and Rasa SQL
tracker store in a temporary directory) and kills them for real (`SIGKILL`), then restarts them.
The tests run in file order; Rasa's (slow) restart comes last.
"""

from __future__ import annotations

import signal

import httpx
import pytest

from bot.db import make_engine, make_session_factory
from bot.phrases import say
from bot.wallet import SqlAlchemyUnitOfWork, get_balance, get_draft, total_balance_fen
from bot.wallet.models import Transfer
from tests.faults.stacks import ChatClient, own_stack, pin_request, texts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with own_stack(tmp_path_factory.mktemp("faults")) as stack:
        yield stack


@pytest.fixture(scope="module")
def gateway_url(world) -> str:
    return f"http://127.0.0.1:{world.settings.port}"


@pytest.fixture(scope="module")
def uow(world):
    sessions = make_session_factory(make_engine(world.settings.database_url))
    return lambda: SqlAlchemyUnitOfWork(sessions, settings=world.settings)



def customer(world, customer_id: str | None) -> ChatClient:
    return ChatClient(f"http://127.0.0.1:{world.settings.port}", world.settings.secret, customer_id)


def restart_gateway(world, *, fault: str | None = None) -> None:
    world.stop("gateway")
    if fault:
        world.env["WALLETBOT_FAULT_INJECT"] = fault
    else:
        world.env.pop("WALLETBOT_FAULT_INJECT", None)
    world.start_gateway()
    world.wait_healthy()


def balances(uow) -> tuple[int, int]:
    return get_balance(uow(), "demo-zhangsan").balance_fen, get_balance(uow(), "demo-lisi").balance_fen


def transfer_exists(uow, transfer_id: str) -> bool:
    with uow() as unit:
        return unit.session.get(Transfer, transfer_id) is not None


def start_transfer_to_lisi(zhangsan: ChatClient, amount: str) -> str:
    """Ask for a transfer, confirm it, and return the draft id the PIN is now awaited for."""
    summary = zhangsan.say(f"给李四转{amount}")
    request = pin_request(zhangsan.click(summary, "确认转账"))
    assert request and request["kind"] == "pin", texts(summary)
    return request["draft_id"]


def test_the_action_server_dying_mid_transfer_gets_an_apology_and_a_human_offer_and_the_form_resumes_after_restart(world):
    zhangsan = customer(world, "demo-zhangsan")
    assert "转给谁" in texts(zhangsan.say("我要转账"))
    assert "多少" in texts(zhangsan.say("李四"))

    world.stop("actions", signal.SIGKILL)
    [reply] = zhangsan.say("500块")
    assert reply["text"] == say("actions_unavailable")
    assert [b["title"] for b in reply["buttons"]] == [say("human_button")]

    world.start_actions()
    world.wait_healthy()
    summary = zhangsan.say("500块")  # the half-filled form goes on: the recipient is still 李四
    assert "¥500.00" in texts(summary) and "*四" in texts(summary), texts(summary)
    assert "取消" in texts(zhangsan.click(summary, "取消"))


def test_the_human_offer_made_while_the_action_server_is_down_queues_the_customer(world, agent):
    visitor = customer(world, None)
    world.stop("actions", signal.SIGKILL)
    try:
        offer = visitor.say("转账要手续费吗")
        queued = visitor.click(offer, say("human_button"))
        assert "人工客服" in texts(queued) and visitor.state() == "queued"
        waiting = agent.get("/api/agent/queue").json()["waiting"]
        assert any(item["reason"] == "bot_unavailable" for item in waiting), waiting
        visitor.click(queued, say("handoff_leave_queue_button"))
    finally:
        world.start_actions()
        world.wait_healthy()


def test_the_gateway_killed_after_the_pin_is_verified_moves_no_money_and_says_so(world, uow):
    restart_gateway(world, fault="kill_after_pin_verified")
    zhangsan = customer(world, "demo-zhangsan")
    total, before = total_balance_fen(uow()), balances(uow)
    draft_id = start_transfer_to_lisi(zhangsan, "100块")

    with pytest.raises(httpx.TransportError):
        zhangsan.secret("pin", "246810")
    assert world.processes["gateway"].wait(timeout=10) == -signal.SIGKILL
    assert get_draft(uow(), customer_id="demo-zhangsan", draft_id=draft_id).pin_verified
    assert not transfer_exists(uow, draft_id)

    restart_gateway(world)
    replies = zhangsan.say("刚才的转账成功了吗？")
    assert "这笔转账未完成，资金没有变动" in texts(replies)
    assert get_draft(uow(), customer_id="demo-zhangsan", draft_id=draft_id).status == "cancelled"
    assert balances(uow) == before and total_balance_fen(uow()) == total
    assert zhangsan.secret("pin", "246810").status_code == 409  # nothing awaits a PIN any more


def test_the_gateway_killed_after_the_transfer_commits_shows_the_receipt_once_and_moves_the_money_once(world, uow):
    restart_gateway(world, fault="kill_after_transfer_committed")
    zhangsan = customer(world, "demo-zhangsan")
    total, before = total_balance_fen(uow()), balances(uow)
    draft_id = start_transfer_to_lisi(zhangsan, "200块")

    with pytest.raises(httpx.TransportError):
        zhangsan.secret("pin", "246810")
    assert world.processes["gateway"].wait(timeout=10) == -signal.SIGKILL
    assert transfer_exists(uow, draft_id)

    restart_gateway(world)
    retry = zhangsan.secret("pin", "246810")  # the app retries the request that got no answer
    assert retry.status_code == 200, retry.text
    told = texts(retry.json()["messages"])
    assert say("transfer_recovered") in told and "转账成功" in told and "¥200.00" in told
    assert balances(uow) == (before[0] - 20_000, before[1] + 20_000) and total_balance_fen(uow()) == total
    assert "转账成功" not in texts(zhangsan.say("我的余额还有多少"))


def test_rasa_dying_queues_the_customer_for_a_human_and_the_bot_answers_again_after_restart(world, agent):
    lisi = customer(world, "demo-lisi")
    assert lisi.say("你好")
    world.stop("rasa", signal.SIGKILL)
    try:
        replies = lisi.say("数字钱包怎么开通")
        assert replies[0]["text"].startswith(say("handoff_bot_down")), texts(replies)
        assert lisi.state() == "queued"
        waiting = agent.get("/api/agent/queue").json()["waiting"]
        assert any(item["reason"] == "bot_unavailable" for item in waiting), waiting
        assert httpx.get(f"http://127.0.0.1:{world.settings.port}/healthz", timeout=10).json()["rasa"] == "down"
    finally:
        world.start_rasa()
        world.wait_healthy()
    lisi.click(replies, say("handoff_leave_queue_button"))
    assert lisi.state() == "bot"
    answer = lisi.say("数字钱包怎么开通")
    assert answer and answer[-1]["sender"] == "bot" and "抱歉" not in texts(answer), texts(answer)
