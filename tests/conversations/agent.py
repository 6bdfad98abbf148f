"""The on-duty agent, through the console API (`bot/gateway/console.py`): sign in as agent1 and go
online, then claim, answer and resolve conversations. Each call answers None or the error the
console gave (a non-2xx status and its Chinese `detail`)."""

from __future__ import annotations

import httpx

from tests.conversations.channels import ChannelBroken

AGENT_USERNAME = "agent1"
AGENT_PASSWORD = "agent1-pass"  # the contract's demo agent


class AgentConsole:
    def __init__(self, gateway_url: str) -> None:
        self.http = httpx.Client(base_url=gateway_url, timeout=30.0)
        self.csrf = ""

    def _call(self, path: str, body: dict | None = None) -> httpx.Response:
        try:
            return self.http.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf})
        except httpx.HTTPError as exc:
            raise ChannelBroken(f"POST {path}: {type(exc).__name__}: {exc}") from exc

    def _post(self, path: str, body: dict | None = None) -> str | None:
        response = self._call(path, body)
        if response.status_code // 100 == 2:
            return None
        try:
            detail = response.json().get("detail", "")
        except ValueError:
            detail = response.text[:200]
        return f"HTTP {response.status_code} on {path}: {detail}"

    def go_online(self) -> None:
        """Sign in (which also sets the agent online) and say so explicitly, as the console does."""
        response = self._call("/api/agent/login", {"username": AGENT_USERNAME, "password": AGENT_PASSWORD})
        if response.status_code != 200:
            raise ChannelBroken(f"the agent could not sign in: HTTP {response.status_code} {response.text[:200]}")
        self.csrf = response.json()["csrf_token"]
        error = self._post("/api/agent/status", {"status": "online"})
        if error:
            raise ChannelBroken(f"the agent could not go online: {error}")

    def claim(self, conversation_id: str) -> str | None:
        return self._post(f"/api/agent/conversations/{conversation_id}/claim")

    def say(self, conversation_id: str, text: str) -> str | None:
        return self._post(f"/api/agent/conversations/{conversation_id}/messages", {"text": text})

    def resolve(self, conversation_id: str) -> str | None:
        return self._post(f"/api/agent/conversations/{conversation_id}/resolve")

    def close(self) -> None:
        self.http.close()
