"""`python -m bot.gateway`: serve the gateway with uvicorn on WALLETBOT_HOST:WALLETBOT_PORT."""

import uvicorn

from bot.gateway.app import create_app
from bot.settings import get_settings

if __name__ == "__main__":
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info", access_log=False)
