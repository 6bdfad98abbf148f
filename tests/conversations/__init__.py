"""The conversation corpus runner (FORMAT.md): `python -m tests.conversations`, or pytest's test_corpus.py."""
