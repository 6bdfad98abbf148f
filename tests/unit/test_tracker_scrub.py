"""`walletbot scrub-trackers`: PINs already in Rasa's tracker store are replaced, nothing else changes."""

from __future__ import annotations

import json
import sqlite3

from bot.cli import main
from bot.tracker_scrub import scrub_tracker_store, tracker_store_urls

SCHEMA = "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, " \
         "timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"


def _store(tmp_path, events: list[tuple[str, str, float, dict]]):
    path = tmp_path / "rasa-tracker-5005.db"
    with sqlite3.connect(path) as db:
        db.execute(SCHEMA)
        for sender, kind, at, data in events:
            db.execute("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
                       (sender, kind, at, json.dumps({"event": kind, "timestamp": at, **data}, ensure_ascii=False)))
    return path


def _texts(path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT data FROM events ORDER BY id")]


def test_pins_in_user_events_and_what_was_filled_from_them_are_scrubbed(tmp_path):
    path = _store(tmp_path, [
        ("c1", "user", 100.0, {"text": "我的支付密码是246810", "parse_data": {"text": "我的支付密码是246810"}}),
        ("c1", "slot", 101.0, {"name": "note", "value": "246810"}),
        ("c1", "bot", 200.0, {"text": "请输入支付密码", "data": {"custom": {"type": "pin_request", "kind": "pin"}}}),
        ("c1", "user", 260.0, {"text": "135790。", "parse_data": {"text": "135790。"}}),
        ("c2", "user", 100.0, {"text": "订单号246810"}),  # another conversation, no request: untouched
    ])
    report = scrub_tracker_store(f"sqlite:///{path}")
    assert (report.conversations, report.events_rewritten) == (1, 3)
    stored = _texts(path)
    assert "246810" not in "".join(stored[:4]) and "135790" not in "".join(stored[:4])
    assert "我的支付密码是******" in stored[0] and json.loads(stored[3])["text"] == "******。"
    assert "订单号246810" in stored[4]
    assert scrub_tracker_store(f"sqlite:///{path}").events_rewritten == 0  # idempotent


def test_the_command_finds_the_sqlite_stores_under_var(tmp_path, capsys):
    path = _store(tmp_path, [("c1", "user", 1.0, {"text": "密码 246810"})])
    assert tracker_store_urls("", tmp_path) == [f"sqlite:///{path}"]
    assert tracker_store_urls("postgresql://u@h/db", tmp_path) == ["postgresql+psycopg://u@h/db"]
    assert main(["scrub-trackers", "--store", f"sqlite:///{path}"]) == 0
    assert "246810" not in _texts(path)[0]
    assert "1 条事件" in capsys.readouterr().out
