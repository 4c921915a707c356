"""Call quality from the ITU-T G.107 E-model: the rating R and the MOS it predicts.

R = Ro − Is − Id − Ie,eff + A with G.107's default values (Ro − Is = 93.2, A = 0), so
R = 93.2 − Id − Ie,eff. Id is the pure-delay term Idd (G.107 section 7.4, mT = 100 ms); the echo
terms Idte and Idle are taken as 0: a handset with echo cancellation (TELR and WEPL large).
Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl) (G.107 section 7.6, Ppl in percent). MOS from R
per G.107 Annex B. Sans-IO and cheap: called once a second per call.
"""

from __future__ import annotations

import math

R_DEFAULT = 93.2  # Ro − Is with every G.107 parameter at its default
M_T = 100.0  # ms: below this one-way delay costs nothing (Idd = 0)


def idd(one_way_ms: float) -> float:
    """G.107's delay impairment for an absolute (mouth-to-ear) delay Ta in ms."""
    if not one_way_ms > M_T:  # NaN too: no delay impairment claimed
        return 0.0
    x = math.log2(one_way_ms / M_T)
    return 25.0 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)


def ie_eff(ie: float, loss: float, bpl: float, burst_r: float = 1.0) -> float:
    """The effective equipment impairment at packet loss ``loss`` (0..1); ``burst_r`` 1 for
    random loss, > 1 for bursty."""
    ppl = 100.0 * min(max(loss, 0.0), 1.0)
    return ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)


def r_factor(one_way_ms: float, loss: float, ie: float, bpl: float,
             burst_r: float = 1.0) -> float:
    """The transmission rating R for a mouth-to-ear delay (ms), loss (0..1) and codec."""
    return R_DEFAULT - idd(one_way_ms) - ie_eff(ie, loss, bpl, burst_r)


def mos(r: float) -> float:
    """The mean opinion score (conversational, 1..4.5) G.107 Annex B predicts for R."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


# G.107 Table B.1's user-satisfaction bands: R 90, 80, 70, 60 (MOS 4.34, 4.03, 3.60, 3.10),
# to the one decimal the call screen shows: 4.3, 4.0, 3.6, 3.1.
_BARS = tuple((round(mos(r), 1), count) for r, count in ((90, 5), (80, 4), (70, 3), (60, 2)))


def bars(score: float) -> int:
    """1..5 bars for a MOS, by G.107's satisfaction bands (5: very satisfied … 1: nearly all
    users dissatisfied), judged on the MOS as shown (one decimal): a "4.3" never shows four
    bars one second and five the next."""
    shown = float(f"{score:.1f}")
    for floor, count in _BARS:
        if shown >= floor:
            return count
    return 1
