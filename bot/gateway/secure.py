"""The secure path: PINs and SMS codes are checked here and never reach Rasa, a transcript or a log.

When a bot reply asks for a secret (`custom.type == "pin_request"`), the conversation remembers which
secret and which transfer draft. The secret arrives on `POST /api/chat/pin` (or, typed into a
messenger, is caught before it is stored); the gateway verifies it against the ledger, executes the
draft, tells the customer, and appends the outcome to Rasa's tracker so the dialogue stays coherent.
"""

from __future__ import annotations

import logging
import os
import signal

from starlette.concurrency import run_in_threadpool

from bot.db import get_session_factory
from bot.handoff import ConversationView, MessageView
from bot.parsing import format_yuan
from bot.phrases import say
from bot.secret_text import exact_secret
from bot.wallet import (
    DraftView,
    OtpResendLimitReached,
    OtpResendTooSoon,
    OutboxSmsSender,
    ReceiptView,
    SqlAlchemyUnitOfWork,
    WalletError,
    WrongOtp,
    WrongPin,
    cancel_draft,
    execute_draft,
    get_customer,
    get_draft,
    issue_otp,
    verify_otp,
    verify_pin,
)
from bot.wallet.messages import describe
from bot.wallet.services import OPEN_DRAFT_STATUSES

log = logging.getLogger(__name__)


class SecretRejected(Exception):
    """The submitted secret cannot be used now; `reply` says why (Chinese)."""

    def __init__(self, reply: str, status_code: int = 422) -> None:
        super().__init__(reply)
        self.reply = reply
        self.status_code = status_code


def done_text(receipt: ReceiptView) -> str:
    return say(
        "transfer_done",
        recipient=receipt.recipient_display,
        amount=format_yuan(receipt.amount_fen),
        balance=format_yuan(receipt.balance_after_fen),
        reference=str(receipt.transfer_id)[-12:],
    )


def draft_summary(draft: DraftView) -> str:
    """What the PIN sheet says it confirms: the ledger's amount and recipient."""
    return say("pin_sheet_summary", recipient=draft.recipient_display, amount=format_yuan(draft.amount_fen))


def looks_like_secret(text: str) -> bool:
    """The whole text is a six-digit PIN or SMS code (the one definition: `bot.secret_text`)."""
    return exact_secret(text) is not None


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
        recovered = await self.recover(conversation)
        if recovered is not None:
            return recovered
        value = exact_secret(value)  # full-width digits count as the same PIN, not as a wrong one
        if value is None:
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
                    return await self._ask(conversation, "otp", self._otp_sent(customer.phone_masked), phone=customer.phone_masked)
            else:
                await run_in_threadpool(lambda: verify_otp(self._uow(), customer_id=customer_id, draft_id=draft_id, code=value))
            self._fault_point("kill_after_pin_verified")
            receipt = await run_in_threadpool(lambda: execute_draft(self._uow(), customer_id=customer_id, draft_id=draft_id))
            self._fault_point("kill_after_transfer_committed")
        except WrongOtp as error:
            return await self._ask(conversation, "otp", say("otp_wrong", attempts_left=error.attempts_left), error=True)
        except WrongPin as error:
            return await self._ask(conversation, "pin", say("pin_wrong", attempts_left=error.attempts_left), error=True)
        except WalletError as error:
            log.info("secure path refused for conversation %s: %s", conversation.id, type(error).__name__)
            return await self._finish(conversation, describe(error))
        return await self._finish(conversation, done_text(receipt))

    async def confirmable(self, conversation: ConversationView, request: dict, shown_draft_id: str | None) -> dict | None:
        """Rasa's PIN request, checked and filled from the ledger; None when it must be refused.

        A PIN confirms only the draft whose summary the gateway showed the customer last, so a request
        for any other draft (a replayed or forged turn, a superseded summary) is refused and logged as a
        security event. The sheet's `summary` (amount and recipient) is the ledger's, never Rasa's text.
        """
        draft_id = str(request.get("draft_id") or "")
        customer_id = conversation.customer_id
        if not customer_id or not draft_id or draft_id != shown_draft_id:
            self.chat.security_events.record(
                "draft_not_shown", channel=conversation.channel,
                detail=f"conversation {conversation.id}: PIN requested for draft {draft_id!r}, the customer was shown {shown_draft_id!r}",
            )
            return None
        try:
            draft = await run_in_threadpool(lambda: get_draft(self._uow(), customer_id=customer_id, draft_id=draft_id))
        except WalletError as error:
            self.chat.security_events.record(
                "draft_not_shown", channel=conversation.channel,
                detail=f"conversation {conversation.id}: PIN requested for draft {draft_id!r}: {type(error).__name__}",
            )
            return None
        if draft.status not in OPEN_DRAFT_STATUSES:
            log.info("conversation %s: PIN requested for draft %s, which is %s", conversation.id, draft_id, draft.status)
            return None
        return {**request, "draft_id": draft_id, "summary": draft_summary(draft)}

    async def resend_otp(self, conversation: ConversationView) -> list[MessageView]:
        """The customer's "重新获取验证码": a fresh code for the same draft, within the resend limits."""
        if conversation.awaiting_secret != "otp" or conversation.customer_id is None:
            raise SecretRejected(say("secret_not_expected"), status_code=409)
        customer_id, draft_id = conversation.customer_id, conversation.awaiting_draft_id
        try:
            await run_in_threadpool(
                lambda: issue_otp(self._uow(), OutboxSmsSender(self._sessions), customer_id=customer_id, purpose="transfer",
                                  draft_id=draft_id, resend=True)
            )
        except (OtpResendTooSoon, OtpResendLimitReached) as error:
            raise SecretRejected(describe(error), status_code=429) from None
        except WalletError as error:
            return await self._finish(conversation, describe(error))
        customer = await run_in_threadpool(lambda: get_customer(self._uow(), customer_id))
        return await self._ask(conversation, "otp", self._otp_sent(customer.phone_masked), phone=customer.phone_masked)

    def _otp_sent(self, phone_masked: str) -> str:
        return say("otp_sent", phone=phone_masked, minutes=max(1, self.chat.settings.otp_ttl_s // 60))

    async def recover(self, conversation: ConversationView) -> list[MessageView] | None:
        """Tell the customer what became of a draft whose secret was verified but whose outcome they never heard.

        That happens only when the gateway died between verifying the last secret and answering (the
        conversation still awaits a secret while the ledger says the draft is confirmed or executed).
        An executed draft gets its receipt; a confirmed one is cancelled, since no money moved. None
        when there is nothing to recover.
        """
        customer_id, draft_id = conversation.customer_id, conversation.awaiting_draft_id
        if conversation.awaiting_secret is None or not customer_id or not draft_id:
            return None
        try:
            draft = await run_in_threadpool(lambda: get_draft(self._uow(), customer_id=customer_id, draft_id=draft_id))
            if draft.status == "confirmed":
                draft = await run_in_threadpool(lambda: cancel_draft(self._uow(), customer_id=customer_id, draft_id=draft_id))
                if draft.status == "cancelled":
                    log.warning("conversation %s: draft %s was verified but never executed; cancelled", conversation.id, draft_id)
                    return await self._finish(conversation, say("transfer_interrupted"))
            if draft.status != "executed":
                return None
            receipt = await run_in_threadpool(lambda: execute_draft(self._uow(), customer_id=customer_id, draft_id=draft_id))
        except WalletError:
            return None
        return await self._finish(conversation, say("transfer_recovered") + done_text(receipt))

    def _fault_point(self, name: str) -> None:
        """WALLETBOT_FAULT_INJECT (fault tests only): die here at once, as on a power cut or the OOM killer."""
        if self.chat.settings.fault_inject == name:
            log.warning("fault injection: the gateway kills itself at %s", name)
            os.kill(os.getpid(), signal.SIGKILL)

    async def _ask(
        self, conversation: ConversationView, kind: str, text: str, *, error: bool = False, phone: str | None = None
    ) -> list[MessageView]:
        """Ask for the (next) secret; a wrong one's reply travels as the sheet's error, so it shows inside it.
        An SMS code request names the masked phone and when the customer may ask for a new code."""
        await run_in_threadpool(self.chat.store.set_awaiting, conversation.id, secret=kind, draft_id=conversation.awaiting_draft_id)
        custom: dict = {"type": "pin_request", "kind": kind, "draft_id": conversation.awaiting_draft_id}
        customer_id, draft_id = conversation.customer_id, conversation.awaiting_draft_id
        if customer_id and draft_id:  # the sheet keeps saying what it confirms, from the ledger
            try:
                draft = await run_in_threadpool(lambda: get_draft(self._uow(), customer_id=customer_id, draft_id=draft_id))
                custom["summary"] = draft_summary(draft)
            except WalletError:
                pass
        if error:
            custom["error"] = text
        if phone is not None:
            custom.update(prompt=text, phone=phone, resend_after_s=self.chat.settings.otp_resend_interval_s)
        message = await self.chat.append(conversation, sender="bot", text=text, custom=custom)
        return [message]

    async def _finish(self, conversation: ConversationView, text: str) -> list[MessageView]:
        await run_in_threadpool(self.chat.store.set_awaiting, conversation.id, secret=None, draft_id=None)
        message = await self.chat.append(conversation, sender="bot", text=text)
        await self.chat.tell_rasa(conversation, text, reset_slots=["draft_id", "pending_offer"])
        return [message]
