"""Guessing the payment PIN or the SMS code over the real chat API ends in a lockout, and nothing moves."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.db import make_engine, make_session_factory
from bot.wallet import SqlAlchemyUnitOfWork, cancel_draft, get_balance, sms_outbox, total_balance_fen, unlock_wallet
from bot.wallet.models import Transfer, TransferDraft
from tests.faults.stacks import ChatClient, pin_request, texts

pytestmark = pytest.mark.e2e

WRONG_PINS = ("000000", "123456", "111111", "999999", "654321")


@pytest.fixture(scope="module")
def uow(stack):
    sessions = make_session_factory(make_engine(stack.settings.database_url))
    return lambda: SqlAlchemyUnitOfWork(sessions, settings=stack.settings)


def confirm(customer: ChatClient, request: str) -> str:
    summary = customer.say(request)
    asked = pin_request(customer.click(summary, "确认转账"))
    assert asked and asked["kind"] == "pin", texts(summary)
    return asked["draft_id"]


def transferred(uow, draft_id: str) -> bool:
    with uow() as unit:
        return unit.session.get(Transfer, draft_id) is not None


def test_five_wrong_pins_across_two_transfers_lock_the_wallet_and_the_right_pin_no_longer_works(stack, gateway_url, uow):
    lisi = ChatClient(gateway_url, stack.settings.secret, "demo-lisi")
    before, total = get_balance(uow(), "demo-lisi").balance_fen, total_balance_fen(uow())
    first = confirm(lisi, "给张三转10块")
    try:
        for pin in WRONG_PINS[:3]:
            assert "支付密码不正确" in texts(lisi.secret("pin", pin).json()["messages"])
        assert "取消" in texts(lisi.say("算了不转了"))  # a new draft does not start the count again
        second = confirm(lisi, "给张三转20块")
        answers = [texts(lisi.secret("pin", pin).json()["messages"]) for pin in WRONG_PINS[3:]]
        assert "还可以再试 1 次" in answers[0] and "锁定" in answers[1], answers
        assert get_balance(uow(), "demo-lisi").status == "locked"

        assert lisi.secret("pin", "135790").status_code == 409  # nothing awaits a PIN any more
        again = lisi.say("给张三转10块")
        assert pin_request(again) is None and "锁定" in texts(again), texts(again)
        assert not transferred(uow, first) and not transferred(uow, second)
        assert get_balance(uow(), "demo-lisi").balance_fen == before and total_balance_fen(uow()) == total
    finally:
        unlock_wallet(uow(), customer_id="demo-lisi", actor="test")
        lisi.say("算了不转了")


def test_five_wrong_sms_codes_refuse_the_transfer_and_the_right_code_then_does_nothing(stack, gateway_url, uow):
    zhangsan = ChatClient(gateway_url, stack.settings.secret, "demo-zhangsan")
    before = get_balance(uow(), "demo-zhangsan").balance_fen
    draft_id = confirm(zhangsan, "给王五转6000元")
    try:
        asked = pin_request(zhangsan.secret("pin", "246810").json()["messages"])
        assert asked and asked["kind"] == "otp"
        code = re.search(r"验证码 (\d{6})", sms_outbox(uow(), limit=1)[0].text).group(1)
        guesses = [g for g in ("000000", "111111", "222222", "333333", "444444", "555555") if g != code][:5]
        answers = [texts(zhangsan.secret("otp", guess).json()["messages"]) for guess in guesses]
        assert all("验证码不正确" in answer for answer in answers[:4]), answers
        assert "验证码不正确" not in answers[4] and answers[4], answers  # the fifth: refused, not "try again"

        assert zhangsan.secret("otp", code).status_code == 409
        assert zhangsan.secret("pin", "246810").status_code == 409
        assert not transferred(uow, draft_id)
        assert get_balance(uow(), "demo-zhangsan").balance_fen == before
        assert get_balance(uow(), "demo-zhangsan").status == "active"  # codes guessed wrong lock the transfer, not the wallet
    finally:
        with uow() as unit:
            status = unit.session.scalar(select(TransferDraft.status).where(TransferDraft.id == draft_id))
        if status in ("draft", "confirmed"):
            cancel_draft(uow(), customer_id="demo-zhangsan", draft_id=draft_id)
