"""The 2-minute chaos soak (tests/soak): customers on web chat, Telegram and WeChat transfer, correct,
cancel and ask for a person while the gateway, the action server and Rasa are each killed once with
SIGKILL (the supervisor restarts them) and requests are replayed; then money, PINs and conversations
are checked. `make soak` runs the 30-minute version."""

from __future__ import annotations

import pytest

from tests.soak.run import quick_options, run_soak

pytestmark = pytest.mark.e2e


def test_two_minutes_of_kills_and_replays_lose_double_and_strand_nothing_and_store_no_pin(tmp_path):
    summary = run_soak(quick_options(), tmp_path / "stack", tmp_path / "out")
    failed = [check for check in summary["checks"] if not check["ok"]]
    assert not failed, "\n".join(f"{c['line']}\n  " + "\n  ".join(c["examples"]) for c in failed)
    assert summary["kills"]["by_kind"] == {"gateway": 1, "actions": 1, "rasa": 1}
