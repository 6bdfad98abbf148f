"""WeChat's servers, played on 127.0.0.1: the official-account API (`/cgi-bin/token`,
`/cgi-bin/message/custom/send`) that the gateway calls, and the helper that posts signed (and, in
safe mode, encrypted) XML to the gateway the way WeChat does, built with wechatpy's own helpers.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

TOKEN_TTL_S = 7200


@dataclass
class FakeWeChatApi:
    """The official-account API: hands out access tokens and records customer-service messages."""

    app_id: str
    app_secret: str
    sent: list[dict] = field(default_factory=list)
    token_fetches: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/cgi-bin/token", self.token), Route("/cgi-bin/message/custom/send", self.send, methods=["POST"])])

    async def token(self, request: Request) -> JSONResponse:
        query = request.query_params
        if query.get("grant_type") != "client_credential" or (query.get("appid"), query.get("secret")) != (self.app_id, self.app_secret):
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        token = f"token-{secrets.token_hex(8)}"
        with self._changed:
            self.token_fetches += 1
            self.valid_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": TOKEN_TTL_S})

    async def send(self, request: Request) -> JSONResponse:
        if request.query_params.get("access_token") not in self.valid_tokens:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
        body = await request.json()
        if body.get("msgtype") != "text" or len(body["text"]["content"].encode()) > 2048:
            return JSONResponse({"errcode": 45002, "errmsg": "content size out of limit"})
        with self._changed:
            self.sent.append(body)
            self._changed.notify_all()
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    def expire_tokens(self) -> None:
        with self._changed:
            self.valid_tokens.clear()

    def texts_to(self, openid: str) -> list[str]:
        with self._changed:
            return [m["text"]["content"] for m in self.sent if m["touser"] == openid]

    def wait_for_texts(self, openid: str, count: int, timeout_s: float = 15.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(texts := [m["text"]["content"] for m in self.sent if m["touser"] == openid]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(texts)} customer-service messages to {openid}, expected {count}: {texts}")
                self._changed.wait(remaining)
            return texts


class ServerThread:
    """An ASGI app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"test server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@dataclass
class Reply:
    status_code: int
    body: str
    text: str | None  # the passive reply's text; None for "success" or an empty answer


class WeChatPlatform:
    """Posts to the gateway's `/wechat` as WeChat's servers do: signed query, XML body, safe mode optional."""

    def __init__(
        self, url: str, token: str, aes_key: str, app_id: str, *, account: str = "gh_walletbot", http: httpx.Client | None = None
    ) -> None:
        self.url = url
        self.token = token
        self.account = account
        self.crypto = WeChatCrypto(token, aes_key, app_id)
        self.http = http or httpx.Client(timeout=30.0)
        self._next_msg_id = int(time.time() * 1000) * 1000

    def new_msg_id(self) -> int:
        self._next_msg_id += 1
        return self._next_msg_id

    def signed_query(self, *, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        timestamp_text, nonce = str(timestamp or int(time.time())), nonce or secrets.token_hex(5)
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp_text, nonce)
        return {"signature": signer.signature, "timestamp": timestamp_text, "nonce": nonce}

    def text_xml(self, openid: str, content: str, msg_id: int) -> str:
        return self._xml(openid, f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>")

    def event_xml(self, openid: str, event: str) -> str:
        return self._xml(openid, f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event><EventKey><![CDATA[]]></EventKey>")

    def image_xml(self, openid: str, msg_id: int) -> str:
        return self._xml(
            openid,
            "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://127.0.0.1/p.jpg]]></PicUrl>"
            f"<MediaId><![CDATA[media-1]]></MediaId><MsgId>{msg_id}</MsgId>",
        )

    def _xml(self, openid: str, inner: str) -> str:
        return (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime>{inner}</xml>"
        )

    def post(self, xml: str, *, aes: bool = False, query: dict[str, str] | None = None, tamper=None) -> Reply:
        """Post one XML message; in safe mode encrypted and signed with `msg_signature`, as WeChat does."""
        query = dict(query or self.signed_query())
        body = xml
        if aes:
            envelope = parse_message_envelope(self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))
            query.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
            body = f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
        if tamper:
            query, body = tamper(query, body)
        response = self.http.post(self.url, params=query, content=body.encode(), headers={"Content-Type": "text/xml"})
        return Reply(response.status_code, response.text, self._reply_text(response, query, aes))

    def _reply_text(self, response: httpx.Response, query: dict[str, str], aes: bool) -> str | None:
        if response.status_code != 200 or response.text in ("success", ""):
            return None
        xml = response.text
        if aes:
            envelope = parse_message_envelope(xml)
            xml = self.crypto.decrypt_message(xml, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        reply = parse_message(xml)
        assert reply.type == "text" and len(reply.content.encode()) <= 2048, xml
        return reply.content

    def say(self, openid: str, content: str, *, aes: bool = False, msg_id: int | None = None) -> Reply:
        return self.post(self.text_xml(openid, content, msg_id or self.new_msg_id()), aes=aes)

    def close(self) -> None:
        self.http.close()


def parse_message_envelope(xml: str) -> dict[str, str]:
    import xmltodict

    return dict(xmltodict.parse(xml)["xml"])
