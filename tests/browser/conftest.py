"""What the web chat's browser tests share: phone-sized pages (Chromium and the agent come from tests/conftest.py)."""

from __future__ import annotations

import pytest


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
