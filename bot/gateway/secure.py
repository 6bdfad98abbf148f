"""The secure path: PINs and SMS codes are checked here and never reach Rasa, a transcript or a log.

When a bot reply asks for a secret (`custom.type == "pin_request"`), the conversation remembers which
secret and which transfer draft. The secret arrives on `POST /api/chat/pin` (or, typed into a
messenger, is caught before it is stored); the gateway verifies it against the ledger, executes the
draft, tells the customer, and appends the outcome to Rasa's tracker so the dialogue stays coherent.
"""

from __future__ import annotations

import logging
import re

from starlette.concurrency import run_in_threadpool

from bot.db import get_session_factory
from bot.handoff import ConversationView, MessageView
from bot.parsing import format_yuan
from bot.phrases import say
from bot.wallet import (
    OutboxSmsSender,
    SqlAlchemyUnitOfWork,
    WalletError,
    WrongOtp,
    WrongPin,
    execute_draft,
    get_customer,
    get_draft,
    issue_otp,
    verify_otp,
    verify_pin,
)
from bot.wallet.messages import describe

log = logging.getLogger(__name__)
SECRET_FORMAT = re.compile(r"^\d{6}$")


class SecretRejected(Exception):
    """The submitted secret cannot be used now; `reply` says why (Chinese)."""

    def __init__(self, reply: str, status_code: int = 422) -> None:
        super().__init__(reply)
        self.reply = reply
        self.status_code = status_code


def looks_like_secret(text: str) -> bool:
    return bool(SECRET_FORMAT.match(text.strip()))


class SecurePath:
    def __init__(self, chat, session_factory=None) -> None:
        self.chat = chat
        self._sessions = session_factory or get_session_factory()

    def _uow(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self._sessions)

    async def submit(self, conversation: ConversationView, kind: str, value: str) -> list[MessageView]:
        """Check one PIN or SMS code for the draft the bot asked about; returns the replies."""
        if conversation.awaiting_secret is None or conversation.customer_id is None:
            raise SecretRejected(say("secret_not_expected"), status_code=409)
        if kind != conversation.awaiting_secret:
            raise SecretRejected(say("pin_prompt" if conversation.awaiting_secret == "pin" else "otp_prompt"), status_code=409)
        if not looks_like_secret(value):
            raise SecretRejected(say("secret_format"))
        customer_id, draft_id = conversation.customer_id, conversation.awaiting_draft_id
        try:
            if kind == "pin":
                await run_in_threadpool(lambda: verify_pin(self._uow(), customer_id=customer_id, pin=value, draft_id=draft_id))
                draft = await run_in_threadpool(lambda: get_draft(self._uow(), customer_id=customer_id, draft_id=draft_id))
                if draft.needs_otp:
                    await run_in_threadpool(
                        lambda: issue_otp(self._uow(), OutboxSmsSender(self._sessions), customer_id=customer_id, purpose="transfer", draft_id=draft_id)
                    )
                    customer = await run_in_threadpool(lambda: get_customer(self._uow(), customer_id))
                    return await self._ask(conversation, "otp", say("otp_sent", phone=customer.phone_masked))
            else:
                await run_in_threadpool(lambda: verify_otp(self._uow(), customer_id=customer_id, draft_id=draft_id, code=value))
            receipt = await run_in_threadpool(lambda: execute_draft(self._uow(), customer_id=customer_id, draft_id=draft_id))
        except WrongPin as error:
            return await self._ask(conversation, "pin", say("pin_wrong", attempts_left=error.attempts_left))
        except WrongOtp as error:
            return await self._ask(conversation, "otp", say("otp_wrong", attempts_left=error.attempts_left))
        except WalletError as error:
            log.info("secure path refused for conversation %s: %s", conversation.id, type(error).__name__)
            return await self._finish(conversation, describe(error))
        text = say(
            "transfer_done",
            recipient=receipt.recipient_display,
            amount=format_yuan(receipt.amount_fen),
            balance=format_yuan(receipt.balance_after_fen),
            reference=str(receipt.transfer_id)[-12:],
        )
        return await self._finish(conversation, text)

    async def _ask(self, conversation: ConversationView, kind: str, text: str) -> list[MessageView]:
        await run_in_threadpool(self.chat.store.set_awaiting, conversation.id, secret=kind, draft_id=conversation.awaiting_draft_id)
        message = await self.chat.append(
            conversation, sender="bot", text=text, custom={"type": "pin_request", "kind": kind, "draft_id": conversation.awaiting_draft_id}
        )
        return [message]

    async def _finish(self, conversation: ConversationView, text: str) -> list[MessageView]:
        await run_in_threadpool(self.chat.store.set_awaiting, conversation.id, secret=None, draft_id=None)
        message = await self.chat.append(conversation, sender="bot", text=text)
        await self.chat.tell_rasa(conversation, text, reset_slots=["draft_id", "pending_offer"])
        return [message]
