"""The abuse tests use the shared `stack` (tests/conftest.py); the secrets scan must see every other test's
stacks, so it is moved to the very end of the session."""

from __future__ import annotations

SCAN = "tests/abuse/test_secrets_scan.py"


def pytest_collection_modifyitems(session, config, items):
    last = [item for item in items if item.nodeid.startswith(SCAN)]
    items[:] = [item for item in items if not item.nodeid.startswith(SCAN)] + last
