"""`walletbot chat`: a terminal chat against the gateway's public API."""

from __future__ import annotations

import getpass

import httpx

PROMPT = "您> "


def _show(message: dict) -> None:
    who = {"bot": "小钱", "agent": "客服", "system": "系统"}.get(message.get("sender", ""), message.get("sender", ""))
    print(f"{who}: {message.get('text', '')}")
    for index, button in enumerate(message.get("buttons") or [], start=1):
        print(f"   [{index}] {button['title']}")


def chat(base_url: str, *, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx.Client(base_url=base_url, headers=headers, timeout=60.0)
    last_buttons: tuple[int, list[dict]] | None = None
    print("钱包智能客服（输入 exit 退出，输入按钮编号选择选项）")
    while True:
        try:
            text = input(PROMPT).strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if text in {"exit", "quit", "退出"}:
            return 0
        if not text:
            continue
        body: dict = {"text": text}
        if last_buttons and text.isdigit() and 1 <= int(text) <= len(last_buttons[1]):
            body = {"button": {"message_id": last_buttons[0], "id": last_buttons[1][int(text) - 1]["id"]}}
        try:
            response = client.post("/api/chat/messages", json=body)
        except httpx.HTTPError:
            print("系统: 网络开小差了，请确认 walletbot 正在运行（make run）。")
            continue
        if response.status_code >= 400:
            print(f"系统: {response.json().get('detail', response.text)}")
            continue
        messages = response.json()["messages"]
        while True:
            last_buttons = None
            pin_request = None
            for message in messages:
                _show(message)
                if message.get("buttons"):
                    last_buttons = (message["id"], message["buttons"])
                custom = message.get("custom") or {}
                if custom.get("type") == "pin_request":
                    pin_request = custom
            if not pin_request:
                break
            kind = pin_request.get("kind", "pin")
            secret = getpass.getpass("请输入6位支付密码（输入不显示）: " if kind == "pin" else "请输入短信验证码: ").strip()
            if not secret:
                messages = client.post("/api/chat/messages", json={"text": "取消"}).json().get("messages", [])
                continue
            answer = client.post("/api/chat/pin", json={kind: secret})
            messages = answer.json().get("messages", []) if answer.status_code < 400 else [
                {"sender": "system", "text": answer.json().get("detail", "")}
            ]
