import pytest

from bot.identity import (
    METADATA_KEY,
    IdentityInvalid,
    TokenExpired,
    TokenInvalid,
    issue_app_token,
    message_digest,
    read_app_token,
    sign_identity,
    verify_identity,
)

SECRET = "unit-secret-0123456789abcdefghijklmnopq"


def test_an_app_token_names_its_customer():
    assert read_app_token(SECRET, issue_app_token(SECRET, "demo-lisi")) == "demo-lisi"


def test_a_token_signed_with_another_secret_is_refused():
    with pytest.raises(TokenInvalid):
        read_app_token(SECRET, issue_app_token("another-secret", "demo-lisi"))


def test_a_token_with_a_swapped_customer_is_refused():
    token = issue_app_token(SECRET, "demo-lisi").split(".")
    forged = issue_app_token(SECRET, "demo-zhangsan").split(".")
    with pytest.raises(TokenInvalid):
        read_app_token(SECRET, ".".join([token[0], forged[1], token[2], token[3]]))


def test_an_expired_token_is_refused():
    with pytest.raises(TokenExpired):
        read_app_token(SECRET, issue_app_token(SECRET, "demo-lisi", ttl_s=10, now=1000.0), now=2000.0)


def test_a_signed_identity_is_trusted_only_in_its_own_conversation():
    metadata = {METADATA_KEY: sign_identity(SECRET, customer_id="demo-lisi", sender="conv-1", text="查余额")}
    assert verify_identity(SECRET, metadata, sender="conv-1", text="查余额", max_age_s=600).customer_id == "demo-lisi"
    with pytest.raises(IdentityInvalid):
        verify_identity(SECRET, metadata, sender="conv-2", text="查余额", max_age_s=600)


def test_an_identity_typed_by_a_user_is_refused():
    metadata = {METADATA_KEY: {"customer_id": "demo-zhangsan", "sender": "conv-1", "iat": 0, "sig": "x"}}
    with pytest.raises(IdentityInvalid):
        verify_identity(SECRET, metadata, sender="conv-1", text="", max_age_s=600)
    with pytest.raises(IdentityInvalid):
        verify_identity(SECRET, {}, sender="conv-1", text="", max_age_s=600)


def test_a_stale_identity_is_refused():
    metadata = {METADATA_KEY: sign_identity(SECRET, customer_id="demo-lisi", sender="c", text="你好", now=1000.0)}
    with pytest.raises(IdentityInvalid):
        verify_identity(SECRET, metadata, sender="c", text="你好", max_age_s=600, now=5000.0)


# Issue 12: an identity is bound to one message, so replaying it with another text moves nothing.

def test_an_identity_replayed_with_another_text_is_refused():
    metadata = {METADATA_KEY: sign_identity(SECRET, customer_id="demo-zhangsan", sender="c", text="给李四转100块")}
    with pytest.raises(IdentityInvalid, match="another message"):
        verify_identity(SECRET, metadata, sender="c", text="给李四转4999块", max_age_s=600)


def test_an_identity_replayed_on_another_button_payload_is_refused():
    metadata = {METADATA_KEY: sign_identity(SECRET, customer_id="demo-zhangsan", sender="c", text='/affirm{"draft_id": "d-1"}')}
    with pytest.raises(IdentityInvalid):
        verify_identity(SECRET, metadata, sender="c", text='/affirm{"draft_id": "d-2"}', max_age_s=600)


def test_an_identity_with_its_digest_swapped_is_refused():
    claim = sign_identity(SECRET, customer_id="demo-zhangsan", sender="c", text="给李四转100块")
    forged = {**claim, "text_sha256": message_digest("给李四转4999块")}
    with pytest.raises(IdentityInvalid, match="bad signature"):
        verify_identity(SECRET, {METADATA_KEY: forged}, sender="c", text="给李四转4999块", max_age_s=600)


def test_an_identity_holds_for_the_text_as_rasa_normalises_it():
    """Rasa's pipeline rewrites the text (traditional → simplified, full-width → half-width): same digest."""
    metadata = {METADATA_KEY: sign_identity(SECRET, customer_id="demo-lisi", sender="c", text="給李四轉　１００塊 ")}
    assert verify_identity(SECRET, metadata, sender="c", text="给李四转 100块", max_age_s=600).customer_id == "demo-lisi"


def test_each_message_gets_its_own_identity_id():
    first = sign_identity(SECRET, customer_id="demo-lisi", sender="c", text="查余额", now=1000.0)
    second = sign_identity(SECRET, customer_id="demo-lisi", sender="c", text="查余额", now=1000.0)
    assert first["mid"] != second["mid"] and first["sig"] != second["sig"]


def test_the_replay_guard_forgets_an_identity_once_it_has_expired_and_stays_bounded():
    from bot.identity import Identity, IdentityReplayed, ReplayGuard

    guard = ReplayGuard(ttl_s=60, entries_max=3)
    one = Identity(customer_id="demo-zhangsan", sender="conv", iat=0, message_id="m1")
    guard.check(one, "turn-a", now=1000.0)
    guard.check(one, "turn-a", now=1001.0)
    with pytest.raises(IdentityReplayed):
        guard.check(one, "turn-b", now=1002.0)
    guard.check(one, "turn-b", now=1100.0)  # long past the identity's lifetime: nothing to compare with
    for n in range(10):
        guard.check(Identity("demo-lisi", "conv", 0, f"x{n}"), "t", now=1100.0)
    assert len(guard._turns) <= 4
