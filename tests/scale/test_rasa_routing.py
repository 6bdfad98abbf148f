"""The gateway's Rasa client with several replicas: stable routing, failover only when a request never arrived."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.gateway.rasa_client import RasaClient, RasaUnavailable, replica_index
from bot.settings import load_settings

URLS = ["http://rasa-1.test", "http://rasa-2.test"]


class Replicas:
    """Two fake Rasa servers behind one MockTransport; `down` ones refuse connections."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.slow: set[str] = set()
        self.calls: list[tuple[str, str]] = []  # (host, sender)

    def handler(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        sender = request.read().decode() if request.method == "POST" else ""
        self.calls.append((host, sender))
        if host in self.slow:
            raise httpx.ReadTimeout("no answer in time", request=request)
        return httpx.Response(200, json=[{"recipient_id": "x", "text": f"from {host}"}])


def client(replicas: Replicas, urls=URLS) -> RasaClient:
    return RasaClient(urls, timeout_s=2, transport=httpx.MockTransport(replicas.handler))


def send(rasa: RasaClient, sender: str) -> list[dict]:
    return asyncio.run(rasa.send(sender, "你好", {}))


def senders_of(replica: int, count: int = 2, *, n: int = 3) -> list[str]:
    found = [f"conv-{i}" for i in range(200) if replica_index(f"conv-{i}", count) == replica]
    return found[:n]


def test_a_conversation_always_goes_to_the_same_replica():
    replicas = Replicas()
    rasa = client(replicas)
    sender = senders_of(1)[0]
    hosts = {send(rasa, sender)[0]["text"] for _ in range(5)}
    assert hosts == {"from rasa-2.test"}


def test_conversations_are_spread_over_the_replicas():
    assert {replica_index(f"conv-{i}", 2) for i in range(20)} == {0, 1}


def test_when_its_replica_refuses_the_next_one_takes_the_conversation():
    replicas = Replicas()
    rasa = client(replicas)
    sender = senders_of(0)[0]
    replicas.down.add("rasa-1.test")
    assert send(rasa, sender)[0]["text"] == "from rasa-2.test"
    assert [host for host, _ in replicas.calls] == ["rasa-2.test"]  # asked once, on the replica that answered


def test_a_replica_that_took_the_message_and_failed_is_not_retried_elsewhere():
    replicas = Replicas()
    rasa = client(replicas)
    sender = senders_of(0)[0]
    replicas.slow.add("rasa-1.test")
    with pytest.raises(RasaUnavailable):
        send(rasa, sender)
    assert [host for host, _ in replicas.calls] == ["rasa-1.test"]  # never processed twice


def test_when_every_replica_refuses_rasa_is_unavailable():
    replicas = Replicas()
    replicas.down.update({"rasa-1.test", "rasa-2.test"})
    with pytest.raises(RasaUnavailable):
        send(client(replicas), "conv-1")


def test_one_url_behaves_as_before():
    replicas = Replicas()
    assert send(client(replicas, URLS[0]), "conv-1")[0]["text"] == "from rasa-1.test"


def test_rasa_urls_is_a_comma_separated_list_and_unset_by_default():
    secret = {"WALLETBOT_SECRET": "unit-secret-0123456789abcdefghijklmnopq"}
    assert load_settings(secret).rasa_urls == ()
    scaled = load_settings({**secret, "RASA_URLS": " http://127.0.0.1:5005/, http://127.0.0.1:5006 "})
    assert scaled.rasa_urls == ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
