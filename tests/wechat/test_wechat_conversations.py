"""Customers on the WeChat official account: binding, balances, buttons as numbers, a PIN typed in chat."""

from __future__ import annotations

import pytest

from bot.binding import Binder
from bot.phrases import say
from bot.wallet import SqlAlchemyUnitOfWork, get_balance

pytestmark = pytest.mark.e2e


@pytest.fixture()
def binder(wechat_world) -> Binder:
    return Binder(wechat_world.sessions, wechat_world.settings.secret)


def balance_fen(wechat_world, customer_id: str) -> int:
    return get_balance(SqlAlchemyUnitOfWork(wechat_world.sessions), customer_id).balance_fen


def test_a_customer_binds_with_a_code_from_the_app_then_checks_the_balance(wechat, wechat_world, openid, binder):
    assert "确认您的身份" in wechat.say(openid, "查一下我的余额").text
    code = binder.issue_code("demo-lisi").code
    assert wechat.say(openid, f"绑定 {code}").text == say("wechat_bind_done")
    balance = f"¥{balance_fen(wechat_world, 'demo-lisi') / 100:,.2f}"
    assert balance in wechat.say(openid, "查一下我的余额", aes=True).text
    assert all(code not in message.text for message in wechat_world.transcript(openid))
    assert code not in wechat_world.gateway_log()
    assert wechat.say(openid, "解绑").text == say("wechat_unbind_done")
    assert "确认您的身份" in wechat.say(openid, "查一下我的余额").text


def test_a_wrong_or_used_bind_code_is_refused_with_the_tries_left(wechat, openid, binder):
    code = binder.issue_code("demo-wangwu").code
    assert wechat.say("o-someone-else", f"/bind {code}").text == say("wechat_bind_done")
    assert wechat.say(openid, f"/bind {code}").text == say("wechat_bind_invalid", attempts_left=4)
    assert wechat.say(openid, "/bind").text == say("wechat_bind_usage")
    assert wechat.say(openid, "/unbind").text == say("wechat_unbind_none")


def test_a_transfer_is_confirmed_by_number_and_the_typed_pin_never_stored(wechat, wechat_world, openid, binder):
    wechat.say(openid, f"绑定 {binder.issue_code('demo-zhangsan').code}")
    before = balance_fen(wechat_world, "demo-zhangsan"), balance_fen(wechat_world, "demo-lisi")
    summary = wechat.say(openid, "给李四转一百块").text
    assert "¥100.00" in summary and say("wechat_option", number=1, title="确认转账") in summary, summary
    assert wechat.say(openid, "1").text == say("wechat_pin_hint")
    done = wechat.say(openid, "２４６８１０").text  # full-width digits, as some keyboards send them
    assert "转账成功" in done and say("wechat_secret_warning") in done
    after = balance_fen(wechat_world, "demo-zhangsan"), balance_fen(wechat_world, "demo-lisi")
    assert after == (before[0] - 10_000, before[1] + 10_000)
    transcript = wechat_world.transcript(openid)
    assert all("246810" not in m.text and "２４６８１０" not in m.text for m in transcript)
    assert "246810" not in wechat_world.gateway_log()
