"""A Rasa replica killed mid-turn holds its conversation's lock in Redis; the lock must free itself
well before the gateway stops waiting for Rasa, so the other replica answers the next message."""

from __future__ import annotations

from bot.runner import Stack, lock_lifetime_s
from bot.settings import load_settings

SECRET = "unit-secret-0123456789abcdefghijklmnopq"


class RecordingStack(Stack):
    """Records what would be started instead of starting it."""

    def _spawn(self, name, argv, extra_env=None) -> None:
        self.commands[name] = (argv, dict(extra_env or {}))


def rasa_envs(tmp_path, **env) -> dict[str, dict[str, str]]:
    settings = load_settings({"WALLETBOT_SECRET": SECRET, **env})
    stack = RecordingStack(settings, env={}, log_dir=tmp_path / "log")
    stack.start_rasa()
    return {name: extra for name, (argv, extra) in stack.commands.items()}


def test_replicas_sharing_a_lock_store_free_a_dead_replicas_lock_before_the_gateway_gives_up(tmp_path):
    envs = rasa_envs(
        tmp_path, RASA_URLS="http://127.0.0.1:5005,http://127.0.0.1:5006",
        TRACKER_STORE_URL="postgresql://postgres@127.0.0.1:5432/tracker", LOCK_STORE_URL="redis://127.0.0.1:6379/1",
    )
    settings = load_settings({"WALLETBOT_SECRET": SECRET})
    assert set(envs) == {"rasa-1", "rasa-2"}
    for extra in envs.values():
        assert int(extra["TICKET_LOCK_LIFETIME"]) == lock_lifetime_s(settings)
        assert 5 <= int(extra["TICKET_LOCK_LIFETIME"]) <= settings.rasa_timeout_s / 2


def test_one_rasa_with_its_own_in_memory_locks_keeps_rasas_default(tmp_path):
    assert "TICKET_LOCK_LIFETIME" not in rasa_envs(tmp_path)["rasa"]
