"""Rasa's input channel for the gateway: the REST channel's JSON, accepted only when signed.

Configured in `credentials.yml` as `rasa_addons.gateway_channel.GatewayInput` (path
`/webhooks/walletbot/webhook`). Every request must carry `X-Walletbot-Signature`, an HMAC of its exact
body with the key in the environment variable WALLETBOT_RASA_CHANNEL_KEY (`bot.channel_auth`); anything
else is refused with 403 before Rasa reads it. Without a key the channel refuses everything.
"""

from __future__ import annotations

import json
import logging
import os
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channel_auth import KEY_ENV, SIGNATURE_HEADER, body_is_signed

log = logging.getLogger(__name__)


class GatewayInput(RestInput):
    """The only way in for customer messages: the gateway's signed requests."""

    @classmethod
    def name(cls) -> Text:
        return "walletbot"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "GatewayInput":
        return cls(os.environ.get(KEY_ENV, ""))

    def __init__(self, key: str = "") -> None:
        self._key = key
        if not key:
            log.error("%s is not set: the walletbot channel refuses every message", KEY_ENV)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = Blueprint("walletbot_gateway_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not body_is_signed(self._key, request.body or b"", request.headers.get(SIGNATURE_HEADER)):
                log.warning("security: refused an unsigned or badly signed message from %s", request.ip)
                return response.json({"error": "forbidden"}, status=403)
            try:
                body = json.loads(request.body)
            except ValueError:
                return response.json({"error": "bad request"}, status=400)
            if not isinstance(body, dict) or not isinstance(body.get("sender"), str) or not isinstance(body.get("message"), str):
                return response.json({"error": "bad request"}, status=400)
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            collector = CollectingOutputChannel()
            try:  # as Rasa's REST channel: a failed turn answers what was collected so far
                await on_new_message(
                    UserMessage(body["message"], collector, body["sender"], input_channel=self.name(), metadata=metadata)
                )
            except CancelledError:
                log.error("walletbot channel: message processing timed out")
            except Exception:
                log.exception("walletbot channel: message processing failed")
            return response.json(collector.messages)

        return webhook
