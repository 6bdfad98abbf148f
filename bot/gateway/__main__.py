"""`python -m bot.gateway`: serve the gateway with uvicorn on WALLETBOT_HOST:WALLETBOT_PORT."""

import uvicorn

from bot.gateway.app import create_app
from bot.settings import Settings, get_settings


def server_options(settings: Settings) -> dict:
    """uvicorn's options. `X-Forwarded-For` is believed only from `WALLETBOT_FORWARDED_ALLOW_IPS` (uvicorn
    would trust it from 127.0.0.1 by default, and anyone on the machine could then pick the client IP that
    the per-IP rate limits and the sign-in throttle count)."""
    trusted = settings.forwarded_allow_ips
    options: dict = {"host": settings.host, "port": settings.port, "log_level": "info", "access_log": False, "proxy_headers": bool(trusted)}
    if trusted:
        options["forwarded_allow_ips"] = trusted
    return options


if __name__ == "__main__":
    settings = get_settings()
    uvicorn.run(create_app(settings), **server_options(settings))
