"""The G.107 E-model against values worked out by hand from its formulas."""

from __future__ import annotations

import pytest

from phone_tui.media.emodel import bars, idd, ie_eff, mos, r_factor


def test_no_delay_impairment_up_to_100_ms():
    # Idd = 0 for Ta <= mT = 100 ms.
    assert idd(0) == idd(50) == idd(100) == 0.0


def test_delay_impairment_at_400_ms():
    # Ta = 400: X = log2(400/100) = 2.
    # (1 + 2^6)^(1/6) = 65^(1/6) = 2.005175
    # (1 + (2/3)^6)^(1/6) = (1 + 64/729)^(1/6) = 1.087791^(1/6) = 1.014125; × 3 = 3.042374
    # Idd = 25 × (2.005175 − 3.042374 + 2) = 25 × 0.962801 = 24.070
    assert idd(400) == pytest.approx(24.070, abs=0.002)


def test_delay_impairment_at_200_ms():
    # Ta = 200: X = 1. 2^(1/6) = 1.122462; (1 + 1/729)^(1/6) = 1.000229, × 3 = 3.000686
    # Idd = 25 × (1.122462 − 3.000686 + 2) = 25 × 0.121776 = 3.044
    assert idd(200) == pytest.approx(3.044, abs=0.002)


def test_effective_impairment_at_2_percent_random_loss():
    # Ie = 5, Bpl = 10, Ppl = 2, BurstR = 1: 5 + (95 − 5) × 2 / (2 + 10) = 5 + 15 = 20
    assert ie_eff(5, 0.02, 10) == pytest.approx(20.0)
    # No loss: Ie itself. Bursty (BurstR = 2): 5 + 90 × 2 / (1 + 10) = 21.364
    assert ie_eff(5, 0.0, 10) == 5
    assert ie_eff(5, 0.02, 10, burst_r=2) == pytest.approx(21.364, abs=0.001)


def test_r_is_93_2_less_the_impairments():
    # Ta 400, 2 % loss, Ie 5, Bpl 10: 93.2 − 24.070 − 20 = 49.130
    assert r_factor(400, 0.02, 5, 10) == pytest.approx(49.130, abs=0.003)
    assert r_factor(20, 0.0, 0, 25) == pytest.approx(93.2)


def test_mos_from_r():
    # MOS(93.2) = 1 + 0.035 × 93.2 + 93.2 × 33.2 × 6.8 × 7e-6 = 1 + 3.262 + 0.147286 = 4.4093
    assert mos(93.2) == pytest.approx(4.4093, abs=0.0005)
    # MOS(50) = 1 + 1.75 + 50 × (−10) × 50 × 7e-6 = 2.75 − 0.175 = 2.575
    assert mos(50) == pytest.approx(2.575)
    assert mos(0) == mos(-20) == 1.0
    assert mos(100) == mos(120) == 4.5


def test_bars_follow_the_satisfaction_bands():
    assert bars(4.41) == 5
    assert bars(4.1) == 4
    assert bars(3.7) == 3
    assert bars(3.2) == 2
    assert bars(2.0) == bars(1.0) == 1
    assert [bars(mos(r)) for r in (93, 85, 75, 65, 40)] == [5, 4, 3, 2, 1]


def test_the_bars_agree_with_the_mos_as_shown():
    # At R = 90 the MOS is 4.34: 4.33 and 4.35 both show as "4.3", and showed four bars and
    # five, a second apart.
    shown = {}
    for r in [x / 10 for x in range(0, 1001)]:
        score = mos(r)
        shown.setdefault(f"{score:.1f}", set()).add(bars(score))
    assert all(len(counts) == 1 for counts in shown.values()), shown
    assert bars(4.33) == bars(4.35) == 5 and bars(4.24) == 4
