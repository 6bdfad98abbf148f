"""The soak's own rules (tests/soak), without a stack: who gets killed when, what counts as a PIN in
stored bytes, which unanswered requests a gateway kill excuses, and how customers are made."""

from __future__ import annotations

import random
from collections import Counter

from tests.soak.chaos import Kill, plan
from tests.soak.checks import Windows, _pattern, leaked_pins
from tests.soak.stack import DEMO_PINS, PIN_FIRST, soak_customers
from tests.soak.workload import fen_of

KINDS = ["gateway", "actions", "rasa"]


def test_the_kill_plan_is_the_same_for_the_same_seed_and_spreads_over_every_process_type():
    first = plan(random.Random(7), 1800, 36, KINDS, lead_s=15, tail_s=60, first="rasa")
    again = plan(random.Random(7), 1800, 36, KINDS, lead_s=15, tail_s=60, first="rasa")
    assert [(k.kind, k.planned_at) for k in first] == [(k.kind, k.planned_at) for k in again]
    assert Counter(k.kind for k in first) == {"gateway": 12, "actions": 12, "rasa": 12}
    assert first[0].kind == "rasa"
    assert all(15 <= k.planned_at <= 1800 - 60 for k in first)
    assert all(a.kind != b.kind for a, b in zip(first, first[1:]))
    assert [k.planned_at for k in first] == sorted(k.planned_at for k in first)


def test_a_pin_is_found_as_a_run_of_exactly_six_digits_and_not_inside_ids_hashes_or_numbers():
    pattern = _pattern({"946810": "soak-c01"})
    for stored in ("密码是946810。", '{"text": "946810"}', "pin:946810", "customer946810", "INFO message 946810 from"):
        assert leaked_pins(stored, pattern), stored
    for coincidence in ("6222094681012", "1946810", "d-8de4b2d0946810be779339dcc5", "fa95a1a8123b759c5e946810dab3edf2b00",
                        "2026-12-04 03:32:53.946810", '"timestamp": 1733283170.946810,'):
        assert not leaked_pins(coincidence, pattern), coincidence


def test_only_a_request_overlapping_a_gateway_downtime_is_excused():
    windows = Windows([Kill("gateway", "gateway", 0, at=100.0, back_at=103.0), Kill("rasa", "rasa", 0, at=10.0, back_at=60.0)], end_s=500)
    assert windows.excuse(90.0, 120.0)  # in flight when the gateway died
    assert windows.excuse(104.0, 104.5)  # the first request after it came back
    assert not windows.excuse(20.0, 50.0)  # Rasa was down: the gateway still has to answer
    assert not windows.excuse(200.0, 230.0)


def test_soak_customers_have_pins_of_their_own_and_recipients_among_each_other():
    customers = soak_customers(12, random.Random(1))
    pins = [c.pin for c in customers]
    assert len(set(pins)) == 12 and not set(pins) & DEMO_PINS and all(int(pin) >= PIN_FIRST for pin in pins)
    assert Counter(c.channel for c in customers) == {"web": 4, "telegram": 4, "wechat": 4}
    names = {c.name for c in customers}
    for customer in customers:
        assert set(customer.saved) <= names - {customer.name}
        assert customer.phone not in customer.new_phones and len(customer.new_phones) == 9


def test_amounts_are_read_to_the_fen():
    assert fen_of("12,345.67") == 1_234_567
    assert fen_of("0.05") == 5
