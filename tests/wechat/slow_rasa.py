"""A tiny proxy in front of the real Rasa server that can hold the bot's answers back.

The WeChat stack's gateway talks to Rasa through it (`RASA_URL`); a test sets `delay_s` to make the
real bot slower than the reply deadline.
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.channel_auth import CHANNEL_PATH, SIGNATURE_HEADER

DELAYED_PATH = CHANNEL_PATH


class SlowRasaProxy:
    def __init__(self, target_url: str) -> None:
        self.target_url = target_url.rstrip("/")
        self.delay_s = 0.0

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.forward, methods=["GET", "POST", "PUT", "DELETE"])])

    async def forward(self, request: Request) -> Response:
        body = await request.body()
        try:
            async with httpx.AsyncClient(timeout=60.0) as http:
                answer = await http.request(
                    request.method,
                    f"{self.target_url}{request.url.path}",
                    params=request.query_params,
                    content=body,
                    headers={
                        "Content-Type": request.headers.get("content-type", "application/json"),
                        SIGNATURE_HEADER: request.headers.get(SIGNATURE_HEADER, ""),  # the gateway's, passed on
                    },
                )
        except httpx.HTTPError:
            return Response(status_code=502)  # Rasa is still starting
        if request.url.path == DELAYED_PATH and self.delay_s:
            await asyncio.sleep(self.delay_s)  # the bot has thought of its answer, and takes its time
        return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))
