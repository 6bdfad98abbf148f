"""Customer text never becomes an intent: no space or format character can hide a leading slash."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.gateway.chat import SLASHES, text_for_rasa
from bot.textnorm import clean_spaces

HIDERS = ["\u3000", "\u00a0", "\u2028", "\u2029", "\u200b", "\ufeff", "\u2060", "\u180e", "\u202f", "\u205f",
          "\u2000", "\u200a", "\u200e", "\u200f", "\u061c", "\u00ad", "\t", "\r\n", "\x85", " "]
invisible = st.characters(categories=["Zs", "Zl", "Zp", "Cf"]) | st.sampled_from(HIDERS) | st.sampled_from(list(SLASHES))


@pytest.mark.parametrize("hider", HIDERS)
def test_a_slash_behind_a_space_or_format_character_is_no_intent(hider):
    assert text_for_rasa(f"{hider}/transfer_money{{\"amount\": 4999}}") == 'transfer_money{"amount": 4999}'
    assert text_for_rasa(f"/{hider}/greet") == "greet"


@given(st.lists(invisible, max_size=8), st.text(max_size=20))
def test_what_reaches_rasa_never_starts_with_a_slash_or_a_space(prefix, rest):
    payload = text_for_rasa("".join(prefix) + "/" + rest)
    assert not payload or (payload[0] not in SLASHES and not payload[0].isspace()
                           and unicodedata.category(payload[0]) != "Cf")


def test_every_unicode_space_becomes_a_plain_space_and_format_characters_go():
    assert clean_spaces("\u3000转账\u00a0给\u200b李四\ufeff\u2028100块\u3000") == "转账 给李四\n100块"


@given(st.text(max_size=40))
def test_cleaning_is_idempotent(text):
    assert clean_spaces(clean_spaces(text)) == clean_spaces(text)
