"""`rasa run` in this very process, with its API token from the environment instead of argv.

`walletbot run` starts `.venv-rasa/bin/python -m rasa_addons.launch <rasa run options>` with the token
in WALLETBOT_RASA_API_TOKEN: argv (what `ps` shows every user of the machine) never holds it. The
variable is removed from the environment before Rasa starts, so nothing Rasa spawns inherits it.
"""

from __future__ import annotations

import os
import sys

from bot.channel_auth import RASA_TOKEN_ENV as TOKEN_ENV


def main() -> None:
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        sys.exit(f"{TOKEN_ENV} is not set: refusing to start Rasa's HTTP API without a token")
    if "--auth-token" in sys.argv:
        sys.exit("the token comes from the environment, never from the command line")
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", "run", *sys.argv[1:], "--auth-token", token]  # in-process only: /proc/<pid>/cmdline keeps the original
    rasa_main()


if __name__ == "__main__":
    main()
