"""Issue 12.1: only the gateway can post to Rasa's channel, and no secret is on argv or world-readable."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import yaml

from bot.channel_auth import KEY_ENV, RASA_TOKEN_ENV, body_is_signed, channel_key, sign_body
from bot.runner import Stack, write_endpoints
from bot.settings import ROOT, load_settings
from tests.conftest import free_port

SECRET = "channel-secret-0123456789abcdefghijklmnop"
KEY = channel_key(SECRET)
BODY = '{"sender": "c", "message": "给李四转4999块", "metadata": {}}'.encode()


def settings_for(tmp_path: Path):
    return load_settings({"WALLETBOT_SECRET": SECRET, "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
                          "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())})


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_body_signed_with_the_channel_key_is_accepted():
    assert body_is_signed(KEY, BODY, sign_body(KEY, BODY))


def test_an_unsigned_or_forged_message_is_refused():
    assert not body_is_signed(KEY, BODY, None)
    assert not body_is_signed(KEY, BODY, "")
    assert not body_is_signed(KEY, BODY, sign_body(channel_key("another-secret"), BODY))
    assert not body_is_signed(KEY, BODY, "t=1,s=" + "0" * 64)


def test_a_signature_copied_onto_another_body_is_refused():
    assert not body_is_signed(KEY, BODY.replace("4999".encode(), "100".encode()), sign_body(KEY, BODY))


def test_an_old_signature_is_refused():
    assert not body_is_signed(KEY, BODY, sign_body(KEY, BODY, now=1000.0), now=2000.0)


def test_a_channel_without_a_key_refuses_everything():
    assert not body_is_signed("", BODY, sign_body("", BODY))


def test_rasas_unauthenticated_rest_channel_is_off():
    channels = yaml.safe_load((ROOT / "credentials.yml").read_text())
    assert "rest" not in channels
    assert list(channels) == ["rasa_addons.gateway_channel.GatewayInput"]


def test_rasas_api_token_and_channel_key_travel_in_the_environment_not_on_argv(tmp_path, monkeypatch):
    settings = settings_for(tmp_path)
    spawned: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(Stack, "_spawn", lambda self, name, argv, extra_env=None: spawned.append((argv, extra_env or {})))
    Stack(settings, env={}, log_dir=tmp_path / "log").start_rasa()

    (argv, env), = spawned
    assert settings.rasa_api_token not in " ".join(argv) and "--auth-token" not in argv
    assert settings.rasa_channel_key not in " ".join(argv)
    assert env[RASA_TOKEN_ENV] == settings.rasa_api_token
    assert env[KEY_ENV] == settings.rasa_channel_key


def test_logs_and_files_the_stack_creates_are_private(tmp_path):
    stack = Stack(settings_for(tmp_path), env={}, log_dir=tmp_path / "log")
    created = tmp_path / "tracker.db"
    stack._spawn("child", [sys.executable, "-c", f"open({str(created)!r}, 'w').write('x'); print('hello')"])
    assert stack.processes["child"].wait(timeout=30) == 0
    assert mode_of(created) == 0o600  # e.g. Rasa's SQLite tracker store, the database
    assert mode_of(tmp_path / "log" / "child.log") == 0o600


def test_the_endpoints_file_is_private(tmp_path):
    assert mode_of(write_endpoints(settings_for(tmp_path), tmp_path / "endpoints.yml")) == 0o600
