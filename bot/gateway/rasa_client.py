"""Talking to the Rasa server over its REST channel and HTTP API.

Errors: `RasaError > RasaUnavailable` (timeouts, refused connections, 5xx answers).
"""

from __future__ import annotations

import httpx


class RasaError(Exception):
    """Base of errors talking to Rasa."""


class RasaUnavailable(RasaError):
    pass


class RasaClient:
    def __init__(self, base_url: str, *, timeout_s: float, auth_token: str = "", transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._auth_token = auth_token
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=3.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, sender: str, text: str, metadata: dict) -> list[dict]:
        """The bot's replies to one user message."""
        return await self._post("/webhooks/rest/webhook", {"sender": sender, "message": text, "metadata": metadata})

    async def trigger_intent(self, sender: str, intent: str, entities: dict | None = None) -> list[dict]:
        """Inject an intent (e.g. the outcome of a PIN check) and return the bot's replies."""
        answer = await self._post(
            f"/conversations/{sender}/trigger_intent",
            {"name": intent, "entities": entities or {}},
            params={"output_channel": "collector", "token": self._auth_token},
        )
        return list(answer.get("messages") or []) if isinstance(answer, dict) else []

    async def append_events(self, sender: str, events: list[dict]) -> None:
        """Append events (what the gateway said or did outside Rasa) to the conversation's tracker."""
        await self._post(f"/conversations/{sender}/tracker/events", events, params={"token": self._auth_token})

    async def _post(self, path: str, body: dict | list, params: dict | None = None):
        try:
            response = await self._http.post(path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise RasaUnavailable("Rasa answered something that is not JSON") from exc

    async def is_up(self) -> bool:
        try:
            response = await self._http.get("/", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200
