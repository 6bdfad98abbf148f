"""Which button a `press:` turn presses, found among the conversation's stored messages.

A transfer summary is a bot message with a confirm button (its title holds 确认). `confirm` and
`cancel` press the buttons of the latest summary, `old_confirm` the confirm button of the summary
before it; the other presses take the latest button of their kind anywhere in the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.handoff import MessageView
from tests.conversations.expectations import is_freeze_button, is_human_button


@dataclass(frozen=True)
class Target:
    message: MessageView
    index: int  # the button's place in its message (WeChat shows it as number index + 1)

    @property
    def button(self) -> dict:
        return self.message.buttons[self.index]


def _payload(button: dict) -> str:
    return str(button.get("payload", ""))


def _title(button: dict) -> str:
    return str(button.get("title", ""))


def is_confirm(button: dict) -> bool:
    return "确认" in _title(button) and "取消" not in _title(button)


def is_cancel(button: dict) -> bool:
    return _payload(button) == "/cancel" or (_title(button).startswith("取消") and _payload(button) != "@leave_queue")


BUTTON_KINDS = {
    "human": lambda b: is_human_button(b) or "人工" in _title(b),
    "leave_queue": lambda b: _payload(b) == "@leave_queue" or _title(b) == "取消排队",
    "freeze": is_freeze_button,
    "ticket_yes": lambda b: _payload(b).startswith("@ticket:"),
}


def _summaries(messages: list[MessageView]) -> list[MessageView]:
    return [m for m in messages if m.sender == "bot" and any(is_confirm(b) for b in m.buttons)]


def _first(message: MessageView, matches) -> Target | None:
    for index, button in enumerate(message.buttons):
        if matches(button):
            return Target(message, index)
    return None


def find_target(messages: list[MessageView], press: str) -> Target | None:
    """The button `press` means in this conversation, or None when the bot never offered one."""
    if press in ("confirm", "cancel", "old_confirm"):
        summaries = _summaries(messages)
        if press == "old_confirm":
            return _first(summaries[-2], is_confirm) if len(summaries) >= 2 else None
        if not summaries:
            return None
        return _first(summaries[-1], is_confirm if press == "confirm" else is_cancel)
    matches = BUTTON_KINDS[press]
    for message in reversed(messages):
        if message.sender != "customer":
            target = _first(message, matches)
            if target is not None:
                return target
    return None
