"""The PIN and SMS-code sheets on the web page (issue 9, point 7): a wrong answer's error and the tries
left show inside the sheet, which stays open; the SMS sheet names the masked phone and counts down to
its resend control. 张三 sends ¥5,000 to 李四 (an SMS code from that amount) and cancels: nothing moves."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from bot.db import make_engine, make_session_factory
from bot.identity import issue_app_token
from bot.phrases import say
from bot.wallet import SqlAlchemyUnitOfWork, get_balance, get_customer, latest_open_draft, sms_outbox

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CUSTOMER, PIN = "demo-zhangsan", "246810"


def ask(page, text: str) -> None:
    page.fill("#input", text)
    page.click("#send")


def press_pin(page, digits: str) -> None:
    for digit in digits:
        page.click(f'#pin-sheet .key[data-key="{digit}"]')


@pytest.fixture(scope="module")
def uow(stack):
    factory = make_session_factory(make_engine(stack.settings.database_url))
    return lambda: SqlAlchemyUnitOfWork(factory, settings=stack.settings)


def last_sms_id(uow) -> int:
    newest = sms_outbox(uow(), limit=1)
    return newest[0].id if newest else 0


def balances(uow) -> tuple[int, int]:
    return get_balance(uow(), CUSTOMER).balance_fen, get_balance(uow(), "demo-lisi").balance_fen


def test_a_wrong_pin_and_a_wrong_code_show_inside_the_sheets_and_the_code_can_be_resent_only_after_the_wait(
    phones, gateway_url, stack, uow, artifacts_dir
):
    settings = stack.settings
    token = issue_app_token(settings.secret, CUSTOMER)
    before = balances(uow)
    sms_before = last_sms_id(uow)
    page = phones()
    page.clock.install()  # the page's timers run on their own, and the test may move them on
    page.goto(f"{gateway_url}/#token={token}")
    try:
        ask(page, "给李四转5000元")
        confirm = page.locator(".quick-replies:not(.used) button", has_text="确认转账")
        expect(confirm).to_be_visible(timeout=30_000)
        confirm.click()
        sheet = page.locator("#pin-sheet")
        expect(sheet).to_be_visible(timeout=30_000)
        expect(page.locator("#pin-prompt")).to_contain_text("¥5,000.00")

        # A wrong PIN: the error and the tries left, inside the sheet, which stays open for the next try.
        press_pin(page, "000000" if PIN != "000000" else "111111")
        expect(page.locator("#pin-error")).to_have_text(say("pin_wrong", attempts_left=settings.pin_attempts_max - 1), timeout=30_000)
        expect(sheet).to_be_visible()
        expect(page.locator("#pin-mode")).to_be_visible()
        expect(page.locator("#pin-dots span.filled")).to_have_count(0)
        expect(page.locator("#pin-busy")).to_be_hidden()
        assert balances(uow) == before
        page.screenshot(path=str(artifacts_dir / "webchat-pin-wrong.png"))

        # The right PIN: ¥5,000 needs an SMS code too; the sheet names the masked phone and counts down.
        press_pin(page, PIN)
        expect(page.locator("#otp-mode")).to_be_visible(timeout=30_000)
        expect(page.locator("#pin-title")).to_have_text("短信验证")
        phone_masked = get_customer(uow(), CUSTOMER).phone_masked
        expect(page.locator("#pin-prompt")).to_contain_text(phone_masked)
        sent = sms_outbox(uow(), limit=1)[0]
        assert sent.id > sms_before and sent.customer_id == CUSTOMER
        resend = page.locator("#otp-resend")
        expect(resend).to_be_disabled()
        expect(resend).to_have_text(re.compile(r"重新获取验证码（\d+秒）"))
        seconds = int(re.search(r"（(\d+)秒）", resend.inner_text()).group(1))
        assert 0 < seconds <= settings.otp_resend_interval_s
        page.clock.run_for(2_000)
        expect(resend).to_have_text(f"重新获取验证码（{seconds - 2}秒）")
        page.screenshot(path=str(artifacts_dir / "webchat-otp-countdown.png"))

        # Too early for the server as well: a new code is refused, and none is sent.
        early = httpx.post(f"{gateway_url}/api/chat/otp/resend", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert early.status_code == 429 and early.json()["detail"], early.text
        assert last_sms_id(uow) == sent.id

        # A wrong code: its error and tries left inside the SMS sheet, which stays open.
        page.fill("#otp-input", "000000")
        expect(page.locator("#pin-error")).to_have_text(say("otp_wrong", attempts_left=settings.otp_attempts_max - 1), timeout=30_000)
        expect(page.locator("#otp-mode")).to_be_visible()
        expect(page.locator("#otp-input")).to_have_value("")
        assert balances(uow) == before

        # Once the interval has passed (the page's clock moved on), the resend control is available.
        expect(resend).to_be_disabled()
        page.clock.run_for((seconds - 2) * 1000 + 1000)
        expect(resend).to_be_enabled()
        expect(resend).to_have_text("重新获取验证码")
    finally:
        if page.locator("#pin-sheet").is_visible():
            page.click("#pin-cancel")  # the customer's 取消: the transfer is dropped
        else:
            ask(page, "取消")
        expect(page.locator(".msg.bot").last).to_contain_text("取消", timeout=30_000)
    expect(page.locator("#pin-sheet")).to_be_hidden()
    assert latest_open_draft(uow(), CUSTOMER) is None
    assert balances(uow) == before
    assert get_balance(uow(), CUSTOMER).status == "active"
