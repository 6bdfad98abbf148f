"""Hostile text shown in a real browser (Debian's Chromium, driven by Playwright): in the customer's web
chat and in the agent console, no script from it ever runs and no element from it is ever created.

Every payload sets `window.__xss` if it runs. A visitor sends them (through the API, so the page renders
them from history, and one typed live), asks for a human, and sends more while queued; the agent opens
the conversation in the console.
"""

from __future__ import annotations

import secrets

import httpx
import pytest
from playwright.sync_api import expect

from tests.abuse.corpus import XSS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

INJECTED = "img[src='x'], iframe, details, script:not([src]), a[href^='javascript'], svg[onload], style"



class Watched:
    """A page whose dialogs and JavaScript errors are recorded."""

    def __init__(self, browser, **context_options) -> None:
        self.context = browser.new_context(locale="zh-CN", **context_options)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def ran_script(self) -> object:
        return self.page.evaluate("window.__xss")


def test_hostile_text_never_runs_in_the_web_chat_or_the_agent_console(browser, gateway_url, artifacts_dir):
    marker = f"标记{secrets.token_hex(3)}"
    console = Watched(browser, viewport={"width": 1280, "height": 800})
    console.page.goto(gateway_url + "/console/")
    console.page.fill("#login-username", "agent1")
    console.page.fill("#login-password", "agent1-pass")
    console.page.click("#login-submit")
    expect(console.page.locator("#me-name")).to_have_text("小王")

    visitor = httpx.Client(base_url=gateway_url, timeout=60.0)
    try:
        for _, payload in XSS[:4]:
            assert visitor.post("/api/chat/messages", json={"text": payload}).status_code == 200
        visitor.post("/api/chat/messages", json={"text": "我要找人工客服"})
        queued = visitor.post("/api/chat/messages", json={"text": "是的"}).json()["messages"]
        assert visitor.get("/api/chat/messages").json()["state"] == "queued", queued
        for _, payload in XSS[4:]:
            visitor.post("/api/chat/messages", json={"text": payload})  # while queued: straight to the agent
        visitor.post("/api/chat/messages", json={"text": f'<img src=x onerror="window.__xss=9">{marker}'})

        phone = Watched(browser, viewport={"width": 390, "height": 844})
        phone.context.add_cookies([{"name": c.name, "value": c.value, "url": gateway_url} for c in visitor.cookies.jar])
        phone.page.goto(gateway_url + "/")
        expect(phone.page.locator(".msg.customer").last).to_contain_text(marker, timeout=15_000)
        phone.page.fill("#input", '<svg><script>window.__xss=10</script></svg>' + marker)
        phone.page.click("#send")
        expect(phone.page.locator(".msg.customer")).to_have_count(len(XSS) + 4, timeout=15_000)

        card = console.page.locator("#queue-list .qcard", has_text=marker).first
        expect(card).to_be_visible(timeout=15_000)
        card.click()
        expect(console.page.locator("#transcript")).to_contain_text(XSS[0][1], timeout=10_000)
        expect(console.page.locator("#transcript .msg.customer").last).to_contain_text(marker, timeout=10_000)
        console.page.screenshot(path=str(artifacts_dir / "abuse-console-xss.png"))
        phone.page.screenshot(path=str(artifacts_dir / "abuse-webchat-xss.png"))

        for watched, region in ((phone, "#messages"), (console, "#transcript, #queue-list")):
            assert watched.ran_script() is None
            assert watched.dialogs == [] and watched.errors == []
            assert watched.page.locator(region).locator(INJECTED).count() == 0
        phone.context.close()
    finally:
        state = visitor.get("/api/chat/messages").json()
        leave = next((m for m in reversed(state["messages"]) for b in m.get("buttons") or [] if b["title"] == "取消排队"), None)
        if state["state"] == "queued" and leave:
            button = next(b for b in leave["buttons"] if b["title"] == "取消排队")
            visitor.post("/api/chat/messages", json={"button": {"message_id": leave["id"], "id": button["id"]}})
        visitor.close()
        console.page.click("#logout")
        console.context.close()
