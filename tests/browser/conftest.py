"""What the browser tests share: Debian's Chromium (one per module), phone-sized pages, the agent on the API."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def phones(browser):
    """Open phone-sized pages, each in its own context (its own visitor cookie): `phones()`."""
    contexts = []
    errors: list[str] = []

    def open_phone():
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_phone
    for context in contexts:
        context.close()
    assert errors == []  # no script error on any page


@pytest.fixture()
def agent(gateway_url):
    """agent1 signed into the console API (cookie + CSRF token), signed out afterwards."""
    with httpx.Client(base_url=gateway_url, timeout=30.0) as client:
        response = client.post("/api/agent/login", json={"username": "agent1", "password": "agent1-pass"})
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client
        client.post("/api/agent/logout")
