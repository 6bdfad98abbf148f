"""Code that runs inside the Rasa server (`.venv-rasa`): the gateway's input channel and the launcher.

Imports only what Rasa's environment has, the standard library and the stdlib-only `bot` modules.
"""
