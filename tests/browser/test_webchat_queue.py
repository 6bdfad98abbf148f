"""Waiting for a person on the web page: the banner and the transcript tell the same place and wait, and
取消排队 goes away once an agent joins (issue 9, point 9). Two visitors in Chromium; the agent on the API."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bot.gateway.desk import queue_text
from bot.handoff.queue import QueueSpot
from bot.phrases import say

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

LEAVE_QUEUE = say("handoff_leave_queue_button")


def ask(page, text: str) -> None:
    page.fill("#input", text)
    page.click("#send")


def chat_state(page, gateway_url: str) -> dict:
    """What the page's own visitor gets from `GET /api/chat/messages` (the context's cookie)."""
    response = page.request.get(gateway_url + "/api/chat/messages")
    assert response.ok, response.text()
    return response.json()


def waiting(agent) -> dict[str, int]:
    """Waiting conversations and their positions, as the agent's queue shows them."""
    return {item["conversation_id"]: item["position"] for item in agent.get("/api/agent/queue").json()["waiting"]}


def expect_queued(page, gateway_url: str, agent, *, moved: bool = False) -> tuple[str, QueueSpot]:
    """The banner and the latest queue message state the place the agent's queue has, and the same wait."""
    state = chat_state(page, gateway_url)
    conversation_id = state["conversation_id"]
    assert state["state"] == "queued", state
    spot = QueueSpot(state["queue"]["position"], state["queue"]["eta_minutes"])
    assert waiting(agent)[conversation_id] == spot.position
    expect(page.locator("#queue-notice")).to_be_visible()
    expect(page.locator("#queue-text")).to_have_text(queue_text(spot))
    expect(last_notice(page)).to_have_text(queue_text(spot, moved=moved))
    return conversation_id, spot


def last_notice(page):
    """The bubble of the newest gateway message (queue, assignment, ticket offer…)."""
    return page.locator(".msg.system:not(.local) .bubble").last


def leave_queue_buttons(page):
    return page.locator(".msg.system .quick-replies button", has_text=LEAVE_QUEUE)


def test_the_banner_agrees_with_the_transcript_and_leave_queue_goes_once_an_agent_joins(phones, gateway_url, agent, artifacts_dir):
    first, second = phones(), phones()  # two visitors: the second waits behind the first
    claimed = None
    try:
        first.goto(gateway_url + "/")
        ask(first, "转人工")
        expect(first.locator("#queue-notice")).to_be_visible(timeout=30_000)
        first_id, first_spot = expect_queued(first, gateway_url, agent)
        expect(leave_queue_buttons(first)).to_be_visible()

        second.goto(gateway_url + "/")
        ask(second, "我要找人工客服")
        expect(second.locator("#queue-notice")).to_be_visible(timeout=30_000)
        second_id, second_spot = expect_queued(second, gateway_url, agent)
        assert second_spot.position == first_spot.position + 1

        # While waiting, what the customer writes is acknowledged with the same place and wait as the banner.
        ask(second, "大概还要多久")
        expect(last_notice(second)).to_contain_text(say("handoff_message_noted"), timeout=10_000)
        expect(last_notice(second)).to_contain_text(f"{second_spot.eta_minutes} 分钟")
        expect(second.locator("#queue-text")).to_have_text(queue_text(second_spot))
        second.screenshot(path=str(artifacts_dir / "webchat-queued.png"))

        assert agent.post(f"/api/agent/conversations/{first_id}/claim").status_code == 200
        claimed = first_id

        # The first visitor, without a reload: an agent has joined, so there is no queue left to leave.
        expect(last_notice(first)).to_contain_text(say("handoff_assigned", agent="小王"), timeout=10_000)
        expect(leave_queue_buttons(first)).to_be_hidden()
        expect(first.locator("#queue-notice")).to_be_hidden()
        expect(first.locator("#status")).to_have_text("人工客服 小王 为您服务")
        first.screenshot(path=str(artifacts_dir / "webchat-agent-joined.png"))
        first.reload()
        expect(first.locator(".msg.system", has_text="小王").last).to_be_visible(timeout=15_000)
        expect(leave_queue_buttons(first)).to_have_count(1)
        expect(leave_queue_buttons(first)).to_be_hidden()
        expect(first.locator("#queue-notice")).to_be_hidden()

        # The second visitor moved up: banner and transcript change together, to the agent's figure.
        expect(last_notice(second)).to_contain_text("排队进度更新", timeout=10_000)
        _, moved_spot = expect_queued(second, gateway_url, agent, moved=True)
        assert moved_spot.position == second_spot.position - 1
        second.reload()
        expect(second.locator("#queue-text")).to_have_text(queue_text(moved_spot), timeout=15_000)

        # Leaving the queue: the 取消排队 offered first was spent when the customer wrote, and the reply to
        # what they wrote offers it again; pressing it, the banner goes and nothing says a transfer is under way.
        expect(leave_queue_buttons(second).first).to_be_disabled()
        expect(leave_queue_buttons(second).last).to_be_enabled()
        leave_queue_buttons(second).last.click()
        expect(last_notice(second)).to_have_text(say("handoff_left_queue"), timeout=10_000)
        expect(second.locator("#queue-notice")).to_be_hidden()
        for button in leave_queue_buttons(second).all():
            expect(button).to_be_hidden()
        assert second_id not in waiting(agent) and chat_state(second, gateway_url)["state"] == "bot"
    finally:
        if claimed is not None:
            assert agent.post(f"/api/agent/conversations/{claimed}/resolve").status_code == 200
        for page in (first, second):
            if chat_state(page, gateway_url)["state"] == "queued":
                page.request.post(gateway_url + "/api/chat/messages", data={"text": "不等了"})
    expect(first.locator(".msg.bot").last).to_contain_text("打个分", timeout=10_000)
    expect(first.locator("#status")).to_have_text("智能客服")


def test_with_nobody_on_duty_the_customer_is_offered_a_message_and_never_told_of_a_transfer(phones, gateway_url, agent):
    assert agent.post("/api/agent/status", json={"status": "offline"}).status_code == 200
    page = phones()
    try:
        page.goto(gateway_url + "/")
        ask(page, "转人工")
        offer = page.locator(".msg.system", has_text="我要留言").last
        expect(offer).to_be_visible(timeout=30_000)
        assert chat_state(page, gateway_url)["state"] == "bot"
        expect(page.locator("#queue-notice")).to_be_hidden()
        assert "转接" not in page.locator("#messages").inner_text()
        assert "转接" not in page.locator("#header").inner_text()
        offer.locator("button", has_text=say("ticket_button_no")).click()
        expect(last_notice(page)).to_have_text(say("ticket_declined"), timeout=10_000)
    finally:
        assert agent.post("/api/agent/status", json={"status": "online"}).status_code == 200
