"""An agent in the console and a customer on the web chat, in two Chromium contexts, against the real stack."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

@pytest.fixture()
def console(browser, gateway_url):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(gateway_url + "/console/")
    yield page
    if page.locator("#app-view").is_visible():
        page.click("#logout")
    context.close()
    assert errors == []


@pytest.fixture()
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def ask(page, text: str) -> None:
    page.fill("#input", text)
    page.click("#send")


def test_a_wrong_password_shows_a_reason_in_chinese(console):
    console.fill("#login-username", "agent1")
    console.fill("#login-password", "not-the-password")
    console.click("#login-submit")
    expect(console.locator("#login-error")).to_have_text("用户名或密码错误。")
    expect(console.locator("#app-view")).to_be_hidden()


def test_an_agent_claims_a_web_customer_replies_live_and_hands_back_to_the_bot(console, phone, gateway_url, artifacts_dir):
    console.fill("#login-username", "agent1")
    console.fill("#login-password", "agent1-pass")
    console.click("#login-submit")
    expect(console.locator("#me-name")).to_have_text("小王")
    expect(console.locator("#conn")).to_have_attribute("data-state", "up")

    phone.goto(gateway_url + "/")
    ask(phone, "我要找人工客服")  # queued on the first ask (issue 9)
    expect(phone.locator("#queue-notice")).to_be_visible(timeout=30_000)
    expect(phone.locator(".msg.system").last).to_contain_text("正在为您转接人工客服")

    card = console.locator("#queue-list .qcard", has_text="我要找人工客服").first
    expect(card).to_be_visible(timeout=10_000)  # arrives live, no reload
    card.click()
    expect(console.locator("#transcript")).to_contain_text("我要找人工客服")
    console.click("#claim-btn")
    expect(console.locator("#conv-state")).to_have_text("由您接待")
    expect(phone.locator(".msg.system").last).to_contain_text("人工客服 小王 已接入", timeout=10_000)

    console.fill("#reply-input", "您好，我是客服小王，请问有什么可以帮您？")
    console.keyboard.press("Enter")
    expect(phone.locator(".msg.agent").last).to_contain_text("您好，我是客服小王", timeout=10_000)

    ask(phone, "我想问一下<b>转账限额</b>是多少")
    expect(console.locator("#transcript .msg.customer").last).to_contain_text("<b>转账限额</b>", timeout=10_000)
    assert console.locator("#transcript b").count() == 0
    console.click("#canned-btn")
    console.fill("#canned-search", "限额")
    console.locator(".canned-item").first.click()
    expect(console.locator("#reply-input")).not_to_have_value("")
    console.click("#send-btn")
    expect(phone.locator(".msg.agent")).to_have_count(2, timeout=10_000)
    console.fill("#note-input", "访客咨询转账限额，已用知识库答复")
    console.click("#note-btn")
    expect(console.locator("#note-list li")).to_have_count(1)
    expect(console.locator("#transcript")).not_to_contain_text("已用知识库答复")

    phone.screenshot(path=str(artifacts_dir / "handoff-customer.png"))
    console.screenshot(path=str(artifacts_dir / "handoff-console.png"))

    console.click("#resolve-btn")
    console.click("#modal-ok")
    expect(console.locator("#composer-locked")).to_contain_text("已结束")
    rating = phone.locator(".msg.bot").last
    expect(rating).to_contain_text("打个分", timeout=10_000)
    rating.locator("button", has_text="5分").click()
    expect(phone.locator(".msg.system").last).to_contain_text("感谢您的评价", timeout=10_000)
    assert phone.locator("#messages").inner_text().count("备注") == 0
    phone.screenshot(path=str(artifacts_dir / "handoff-customer-rated.png"))
