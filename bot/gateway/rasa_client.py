"""Talking to the Rasa server over its signed `walletbot` channel and its HTTP API.

Customer messages go to `rasa_addons/gateway_channel.py`, each body signed with the channel key
(`bot.channel_auth`): Rasa refuses a message that is not.

With several replicas (`RASA_URLS`, sharing a SQL tracker store and a Redis lock store) each
conversation goes to one replica, picked by a stable hash of its id. When that replica cannot be
reached (connection refused or connect timeout: the request surely never arrived) the next replica in
order takes the conversation and continues it from the shared tracker. A replica that took a request
and then failed is not retried elsewhere, so a message is never processed twice.

Errors: `RasaError > RasaUnavailable` (timeouts, refused connections, 5xx answers).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Sequence

import httpx

from bot.channel_auth import CHANNEL_PATH, SIGNATURE_HEADER, sign_body

log = logging.getLogger(__name__)


def replica_index(sender: str, replicas: int) -> int:
    """The replica a conversation goes to first: a stable hash of its id, the same in every process."""
    return zlib.crc32(sender.encode("utf-8")) % replicas


class RasaError(Exception):
    """Base of errors talking to Rasa."""


class RasaUnavailable(RasaError):
    pass


class RasaClient:
    def __init__(
        self, base_url: str | Sequence[str], *, timeout_s: float, auth_token: str = "", channel_key: str = "",
        transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("RasaClient needs at least one Rasa URL")
        self._auth_token = auth_token
        self._channel_key = channel_key
        self._replicas = [
            httpx.AsyncClient(
                base_url=url,
                timeout=httpx.Timeout(timeout_s, connect=3.0),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                transport=transport,
            )
            for url in urls
        ]

    async def close(self) -> None:
        for http in self._replicas:
            await http.aclose()

    def _route(self, sender: str) -> list[httpx.AsyncClient]:
        """The replicas in the order this conversation tries them: its own first, then the next ones."""
        first = replica_index(sender, len(self._replicas))
        return self._replicas[first:] + self._replicas[:first]

    async def send(self, sender: str, text: str, metadata: dict) -> list[dict]:
        """The bot's replies to one user message."""
        body = json.dumps({"sender": sender, "message": text, "metadata": metadata}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign_body(self._channel_key, body)}
        return await self._post(sender, CHANNEL_PATH, content=body, headers=headers)

    async def parse(self, sender: str, text: str) -> tuple[str, float]:
        """What the NLU reads in a text, without touching any conversation: (intent, confidence)."""
        answer = await self._post(sender, "/model/parse", {"text": text}, params={"token": self._auth_token})
        intent = answer.get("intent") or {} if isinstance(answer, dict) else {}
        return str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)

    async def trigger_intent(self, sender: str, intent: str, entities: dict | None = None) -> list[dict]:
        """Inject an intent (e.g. the outcome of a PIN check) and return the bot's replies."""
        answer = await self._post(
            sender,
            f"/conversations/{sender}/trigger_intent",
            {"name": intent, "entities": entities or {}},
            params={"output_channel": "collector", "token": self._auth_token},
        )
        return list(answer.get("messages") or []) if isinstance(answer, dict) else []

    async def append_events(self, sender: str, events: list[dict]) -> None:
        """Append events (what the gateway said or did outside Rasa) to the conversation's tracker."""
        await self._post(sender, f"/conversations/{sender}/tracker/events", events, params={"token": self._auth_token})

    async def _request(self, sender: str, method: str, path: str, **kwargs) -> httpx.Response:
        """One request for a conversation, on its replica or, when that one cannot be reached, the next."""
        unreachable: httpx.HTTPError | None = None
        for http in self._route(sender):
            try:
                return await http.request(method, path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never arrived: the next replica may take it
                log.warning("rasa replica %s unreachable for conversation %s: %s", http.base_url, sender, type(exc).__name__)
                unreachable = exc
            except httpx.HTTPError as exc:
                raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise RasaUnavailable(f"no Rasa replica reachable: {type(unreachable).__name__}: {unreachable}") from unreachable

    async def _post(self, sender: str, path: str, body: dict | list | None = None, params: dict | None = None, **kwargs):
        if body is not None:
            kwargs["json"] = body
        response = await self._request(sender, "POST", path, params=params, **kwargs)
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise RasaUnavailable("Rasa answered something that is not JSON") from exc

    async def tracker_state(self, sender: str) -> dict:
        """The conversation's current slots and active loop, without its events."""
        response = await self._request(
            sender, "GET", f"/conversations/{sender}/tracker", params={"include_events": "NONE", "token": self._auth_token}
        )
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa answered {response.status_code}")
        return response.json()

    async def is_up(self) -> bool:
        """True when at least one replica answers."""
        for http in self._replicas:
            try:
                if (await http.get("/", timeout=2.0)).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
        return False
