"""A customer chats on the web page in Debian's Chromium, driven by Playwright, against the real stack."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from bot.identity import issue_app_token
from bot.knowledge import get_knowledge_base

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

@pytest.fixture()
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def ask(page, text: str) -> None:
    page.fill("#input", text)
    page.click("#send")


def test_a_visitor_asks_in_traditional_characters_and_reads_the_answer(phone, gateway_url, artifacts_dir):
    phone.goto(gateway_url + "/")
    expect(phone.locator("#title")).to_have_text("钱包在线客服")
    ask(phone, "數字錢包怎麼開通？")
    answer = get_knowledge_base().get("open_steps").answer
    expect(phone.locator(".msg.bot").last).to_contain_text(answer.splitlines()[0][:12], timeout=30_000)
    phone.screenshot(path=str(artifacts_dir / "webchat-faq.png"))


def test_html_in_a_message_is_shown_as_text_never_run(phone, gateway_url):
    dialogs: list[str] = []
    phone.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    phone.goto(gateway_url + "/")
    ask(phone, "<img src=x onerror=alert(1)><script>alert(2)</script>")
    expect(phone.locator(".msg.customer").last).to_contain_text("<script>alert(2)</script>")
    expect(phone.locator(".msg.bot, .msg.system").last).to_be_visible(timeout=30_000)
    assert dialogs == []
    assert phone.locator("#messages img[src='x']").count() == 0


def test_a_customer_checks_the_balance_and_history_survives_a_reload(phone, gateway_url, stack):
    token = issue_app_token(stack.settings.secret, "demo-lisi")
    phone.goto(f"{gateway_url}/#token={token}")
    ask(phone, "我钱包里还剩多少钱")
    expect(phone.locator(".msg.bot").last).to_contain_text("¥", timeout=30_000)
    assert "token" not in phone.url
    bubbles = phone.locator(".msg").count()
    phone.reload()
    expect(phone.locator(".msg.bot").last).to_contain_text("¥", timeout=15_000)
    assert phone.locator(".msg").count() == bubbles


def test_a_customer_sends_money_entering_the_pin_on_the_pad(phone, gateway_url, stack, artifacts_dir):
    token = issue_app_token(stack.settings.secret, "demo-zhangsan")
    phone.goto(f"{gateway_url}/#token={token}")
    ask(phone, "给李四转100块")
    # The summary just asked for: every earlier one (this conversation's history) is spent and greyed out.
    confirm = phone.locator(".quick-replies:not(.used) button", has_text="确认转账")
    expect(confirm).to_be_visible(timeout=30_000)
    confirm.click()
    expect(phone.locator("#pin-sheet")).to_be_visible(timeout=30_000)
    phone.screenshot(path=str(artifacts_dir / "webchat-pin-pad.png"))
    for digit in "246810":
        phone.click(f'#pin-sheet .key[data-key="{digit}"]')
    expect(phone.locator(".msg.bot").last).to_contain_text("转账成功", timeout=30_000)
    expect(phone.locator("#pin-sheet")).to_be_hidden()
    assert "246810" not in phone.locator("#messages").inner_text()
    phone.screenshot(path=str(artifacts_dir / "webchat-transfer-done.png"))
    history = httpx.get(f"{gateway_url}/api/chat/messages", headers={"Authorization": f"Bearer {token}"}).json()
    assert all("246810" not in m["text"] for m in history["messages"])


def test_a_summary_the_customer_moved_on_from_cannot_be_pressed_even_after_a_reload(phone, gateway_url, stack):
    token = issue_app_token(stack.settings.secret, "demo-lisi")
    phone.goto(f"{gateway_url}/#token={token}")
    ask(phone, "给张三转1块")
    summary = phone.locator(".msg.bot", has_text="¥1.00").last
    expect(summary.locator(".quick-replies button", has_text="确认转账")).to_be_enabled(timeout=30_000)
    ask(phone, "算了不转了")
    expect(summary.locator(".quick-replies button", has_text="确认转账")).to_be_disabled()
    expect(phone.locator(".msg.bot").last).to_contain_text("取消", timeout=30_000)
    phone.reload()
    again = phone.locator(".msg.bot", has_text="¥1.00").last
    expect(again).to_be_visible(timeout=15_000)
    for title in ("确认转账", "取消"):
        expect(again.locator(".quick-replies button", has_text=title)).to_be_disabled()
