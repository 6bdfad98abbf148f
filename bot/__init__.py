"""walletbot: a Chinese customer-support assistant for a bank's digital wallet.

This package must stay importable from the Rasa environment for `bot.textnorm` only, so this
file imports nothing.
"""
