"""The wallet's customer-facing Chinese, in one place: one reply per error, and the SMS text.

`describe(error)` is the single table the edges (actions, gateway) use to turn a `WalletError` into
a warm, brief reply in Simplified Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.wallet import errors as e
from bot.wallet.security import BANK_TZ


def format_yuan(fen: int) -> str:
    """123456789 → ¥1,234,567.89 (exact: integer arithmetic, never float)."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def format_local_time(at: datetime | None) -> str:
    if at is None:
        return "人工解除后"
    local = at.astimezone(BANK_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


LOCK_REASONS = {
    "pin_attempts": "支付密码连续输错",
}
FREEZE_REASONS = {
    "customer_fraud_report": "您报告了可疑交易",  # CUSTOMER_FRAUD_REPORT, the one reason a wallet is frozen for today
}


def _locked(err: e.WalletLocked) -> str:
    why = LOCK_REASONS.get(err.reason, "安全原因")
    return (
        f"您的钱包因{why}已暂时锁定，将于 {format_local_time(err.until)} 自动解锁。"
        "如需提前解锁，可以转人工客服核实身份后处理。"
    )


def _frozen(err: e.WalletFrozen) -> str:
    why = FREEZE_REASONS.get(err.reason, "安全原因")
    return f"您的钱包因{why}已冻结，暂时不能转出资金。如需解冻，请联系人工客服，我们会尽快为您处理。"


def _verification_required(err: e.VerificationRequired) -> str:
    if err.step == "otp":
        return "还差一步：请输入短信验证码完成验证。"
    return "还差一步：请先输入支付密码完成验证。"


_TABLE: dict[type[e.WalletError], Callable[..., str]] = {
    e.SameWallet: lambda err: "不能给自己的钱包转账哦，请换一位收款人。",
    e.InsufficientFunds: lambda err: (
        f"余额不足：您的钱包余额为 {format_yuan(err.balance_fen)}，本次需 {format_yuan(err.amount_fen)}。"
    ),
    e.PerTransferLimitExceeded: lambda err: (
        f"单笔转账最多 {format_yuan(err.limit_fen)}，本次 {format_yuan(err.amount_fen)} 超出了限额，"
        "可以减少金额或分几笔转。"
    ),
    e.DailyLimitExceeded: lambda err: (
        f"超出今日转账额度：每日限额 {format_yuan(err.limit_fen)}，今天已转 {format_yuan(err.used_fen)}，"
        f"还可转 {format_yuan(err.remaining_fen)}。"
    ),
    e.WalletLocked: _locked,
    e.WalletFrozen: _frozen,
    e.AmountInvalid: lambda err: "转账金额需要大于 0，最多精确到分，请重新告诉我金额。",
    e.RecipientNotFound: lambda err: "没有找到这位收款人，请告诉我对方的姓名、手机号或钱包号。",
    e.WrongPin: lambda err: f"支付密码不正确，您还可以再试 {err.attempts_left} 次。",
    e.WrongOtp: lambda err: f"短信验证码不正确，您还可以再试 {err.attempts_left} 次。",
    e.OtpExpired: lambda err: "短信验证码已失效，请重新获取验证码。",
    e.OtpAttemptsExceeded: lambda err: "验证码输错次数过多，这个验证码已失效，请重新获取。",
    e.OtpResendTooSoon: lambda err: f"验证码刚刚发出，请 {err.retry_after_s} 秒后再重新获取。",
    e.OtpResendLimitReached: lambda err: f"今天重新获取验证码的次数已用完（每天最多 {err.resends_max} 次），请明天再试或联系人工客服。",
    e.VerificationRequired: _verification_required,
    e.CustomerNotFound: lambda err: "暂时没有查到您的钱包信息，请先在 App 中完成账户绑定。",
    e.WalletNotFound: lambda err: "没有找到对应的钱包，请核对后再试。",
    e.DraftNotFound: lambda err: "没有找到这笔待确认的转账，如需转账请重新发起。",
    e.DraftExpired: lambda err: "这笔转账等待确认的时间过长，为了您的资金安全已自动取消，请重新发起。",
    e.DraftCancelled: lambda err: "这笔转账已经取消，没有扣款。如需转账请重新发起。",
    e.TransferIdReused: lambda err: "这笔交易的编号已被使用，本次没有扣款，请重新发起转账。",
    e.LedgerCorrupted: lambda err: "系统正在核对账务，本次操作没有完成，资金安全不受影响。请稍后再试或联系人工客服。",
}

_FALLBACK = "抱歉，这次操作没有成功，您的资金安全不受影响，请稍后再试。"


def describe(error: BaseException) -> str:
    """The customer reply for a wallet error (the nearest described class wins)."""
    for cls in type(error).__mro__:
        reply = _TABLE.get(cls)
        if reply is not None:
            return reply(error)
    return _FALLBACK


def sms_text(*, purpose: str, code: str, ttl_min: int, amount_fen: int | None = None, recipient: str = "") -> str:
    """The one-time code message. It names what the code authorises, so a customer tricked into
    reading it out can see it is a transfer."""
    if purpose == "transfer" and amount_fen is not None:
        action = f"向 {recipient} 转账 {format_yuan(amount_fen)}"
    else:
        action = "验证身份"
    return f"【数字钱包】验证码 {code}，您正在{action}，{ttl_min} 分钟内有效。请勿将验证码告诉任何人，客服不会向您索要。"
