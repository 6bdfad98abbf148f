"""The chaos soak (`make soak`): the Jepsen bank test for walletbot.

Seeded customers on web chat, Telegram and WeChat transfer money (PIN, SMS code), correct and cancel
transfers and ask for a person, while processes are killed with SIGKILL and requests are replayed;
afterwards the ledger, the conversations and every stored byte are checked (tests/soak/checks.py).
`python -m tests.soak --help`; the 2-minute version is tests/faults/test_soak.py.
"""
