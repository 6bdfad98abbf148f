"""After every other test (tests/abuse/conftest.py moves this one last): what the suite's stacks left on
disk, their SQLite databases (ledger, transcripts, queue), Rasa's SQL tracker stores and every process
log, holds no PIN that was used, no SMS code that was issued, and no full ID, wallet/card or phone
number of a demo customer.

Only the systems of record may hold a number: the customer's phone (`customers.phone`, the SMS
gateway needs it), the wallet number (`wallets.wallet_no`), and the demo SMS outbox (`sms_outbox`,
standing in for the operator, where codes are "sent").
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bot.wallet.demo import PEOPLE

USED_PINS = ("246810", "135790", "112233")
RECORDS = {("customers", "phone"), ("wallets", "wallet_no"), ("sms_outbox", "*")}
SMS_CODE = re.compile(r"验证码 ?(\d{6})")


def stack_dirs(base: Path) -> list[Path]:
    """The working directories of the stacks this session started: each has a log folder with process logs."""
    logs = {path.parent for name in ("gateway.log", "rasa.log") for path in base.rglob(name)}
    return sorted({log_dir.parent for log_dir in logs})


def sqlite_texts(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Every text value of every table, labelled, except the systems of record; and the SMS outbox's texts."""
    found, outbox = [], []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for column, value in zip(columns, row):
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if not isinstance(value, str):
                        continue
                    if table == "sms_outbox" and column == "text":
                        outbox.append(value)
                    if (table, column) in RECORDS or (table, "*") in RECORDS:
                        continue
                    found.append((f"{path.name}:{table}.{column}", value))
    finally:
        db.close()
    return found, outbox


def forbidden() -> dict[str, str]:
    numbers = {f"PIN {pin}": pin for pin in USED_PINS}
    for person in PEOPLE:
        numbers.update({f"{person.name} phone": person.phone, f"{person.name} ID": person.id_number, f"{person.name} wallet": person.wallet_no})
    return numbers


def findings(label: str, text: str, numbers: dict[str, str]) -> list[str]:
    hits = []
    for name, number in numbers.items():
        # Not inside a longer number, a hex id or a timestamp's fraction (which would be chance, not a leak).
        for match in re.finditer(rf"(?<![0-9A-Fa-f.]){number}(?![0-9A-Fa-f])", text):
            context = text[max(0, match.start() - 60):match.end() + 20].replace("\n", " ")
            hits.append(f"{name} in {label}: …{context}…")
    return hits


def test_no_pin_code_or_personal_number_is_left_in_databases_trackers_or_logs(tmp_path_factory):
    dirs = stack_dirs(tmp_path_factory.getbasetemp())
    if not dirs:
        pytest.skip("no stack ran in this session: nothing to scan")
    texts, codes = [], set()
    for directory in dirs:
        for path in sorted(directory.rglob("*.db")):
            found, outbox = sqlite_texts(path)
            texts += [(f"{directory.name}/{label}", value) for label, value in found]
            codes |= {code for text in outbox for code in SMS_CODE.findall(text)}
        for path in sorted(directory.rglob("*.log")):
            texts.append((f"{directory.name}/{path.relative_to(directory)}", path.read_text(errors="replace")))
    numbers = forbidden() | {f"SMS code {code}": code for code in codes}
    hits = [hit for label, text in texts for hit in findings(label, text, numbers)]
    assert hits == [], "\n".join(hits[:40])
