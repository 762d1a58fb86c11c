"""The lab's statistics against published and hand-worked values."""

from __future__ import annotations

import pytest

from funnel.qualification.stats import (
    bh_q,
    deals_needed,
    fisher_p,
    katz,
    newcombe,
    verdict,
    wilson,
    worth_detecting,
)


def test_wilson_matches_newcombe_1998_and_the_edges():
    # Newcombe (1998a) example: 81/263 → 0.2553 to 0.3662.
    p, low, high = wilson(81, 263)
    assert p == pytest.approx(0.3080, abs=5e-5)
    assert (low, high) == (pytest.approx(0.2553, abs=5e-5), pytest.approx(0.3662, abs=5e-5))
    # 0/10 → 0 to 0.2775 (Newcombe 1998a, Table I).
    assert wilson(0, 10)[1:] == (0.0, pytest.approx(0.2775, abs=5e-5))
    assert wilson(0, 0) is None


@pytest.mark.parametrize(
    ("a", "m", "b", "n", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),  # Newcombe 1998b, Table II, example (a)
        (9, 10, 3, 10, 0.1705, 0.8090),  # example (b)
        (6, 7, 2, 7, 0.0582, 0.8062),  # example (c)
        (5, 56, 0, 29, -0.0381, 0.1926),  # example (d)
        (0, 10, 0, 20, -0.1611, 0.2775),  # example (e)
        (10, 10, 0, 20, 0.6791, 1.0),  # example (f)
    ],
)
def test_newcombe_hybrid_score_interval_matches_table_ii(a, m, b, n, low, high):
    d, lo, hi = newcombe(a, m, b, n)
    assert d == pytest.approx(a / m - b / n)
    assert (lo, hi) == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_katz_log_interval_worked_by_hand():
    # 56/70 vs 48/80: ratio 0.8/0.6 = 4/3; se = √(1/56 − 1/70 + 1/48 − 1/80) = √0.011905
    # = 0.10911; 4/3 · exp(∓1.95996 · 0.10911) = 4/3 · (0.80747, 1.23843) = 1.0766 … 1.6512.
    ratio, low, high = katz(56, 70, 48, 80)
    assert ratio == pytest.approx(4 / 3)
    assert (low, high) == (pytest.approx(1.0766, abs=1e-4), pytest.approx(1.6512, abs=1e-4))
    assert katz(0, 10, 3, 10) is not None and katz(3, 0, 1, 10) is None


def test_katz_haldane_correction_when_a_side_has_no_wins():
    # 0/10 vs 5/10 → 0.5/11 vs 5.5/11: ratio 1/11 = 0.090909; se = √(1/0.5 − 1/11 + 1/5.5
    # − 1/11) = √2; exp(1.95996·√2) = 15.9876 → 0.0056863 … 1.45341. A strong loss
    # predictor keeps a point and a bar (the forest plot used to drop it).
    ratio, low, high = katz(0, 10, 5, 10)
    assert ratio == pytest.approx(1 / 11)
    assert (low, high) == (pytest.approx(0.0056863, abs=1e-6), pytest.approx(1.45341, abs=1e-4))
    # No losses on a side also corrects (the log interval needs every cell above 0).
    assert katz(10, 10, 5, 10)[0] == pytest.approx((10.5 / 11) / (5.5 / 11))


def test_fisher_two_sided_lady_tasting_tea():
    # Fisher's tea: 3 of 4 right against 1 of 4 → p = 34/70.
    assert fisher_p(3, 4, 1, 4) == pytest.approx(34 / 70)
    assert fisher_p(10, 10, 0, 10) == pytest.approx(2 / 184756)


def test_benjamini_hochberg_is_monotone_and_skips_untested():
    # Sorted p 0.01, 0.03, 0.04, 0.5 (m = 4): raw 0.04, 0.06, 0.0533, 0.5 → monotone
    # from the top: 0.04, 0.0533, 0.0533, 0.5.
    q = bh_q([0.01, 0.04, 0.03, None, 0.5])
    assert q[3] is None
    assert q[0] == pytest.approx(0.04)
    assert q[1] == pytest.approx(0.16 / 3) and q[2] == pytest.approx(0.16 / 3)
    assert q[4] == pytest.approx(0.5)
    assert bh_q([0.9, 0.95]) == [pytest.approx(0.95), pytest.approx(0.95)]


def test_deals_needed_two_proportions_worked_by_hand():
    # 20 % vs 30 %, half meeting: p̄ = 0.25; 1.95996·√(0.1875·4) = 1.69738;
    # 0.84162·√(0.21·2 + 0.16·2) = 0.72399; (2.42137)² / 0.01 = 586.3 → 587 in all.
    assert deals_needed(0.2, 0.5) == 587
    # Fewer meeting the criterion needs more deals; a share of 0 is held at 5 %.
    assert deals_needed(0.2, 0.1) > 587
    assert deals_needed(0.2, 0.0) == deals_needed(0.2, 0.05)
    assert deals_needed(0.0, 0.5) is None


def test_worth_detecting_uses_the_loss_rate_above_a_base_of_0_4():
    # 0.2: win rate ÷ or × 1.5 → 0.1333 … 0.3; 0.8: loss rate 0.2 × or ÷ 1.5 → 0.7 … 0.8667.
    assert worth_detecting(0.2) == (pytest.approx(0.2 / 1.5), pytest.approx(0.3))
    assert worth_detecting(0.8) == (pytest.approx(0.7), pytest.approx(1 - 0.2 / 1.5))
    # 70 % vs a loss rate ÷ 1.5 (80 %) mirrors 30 % vs 20 %: the same 587 as above (the old
    # rule asked for 99.9 % against 70 % and needed a few dozen deals).
    assert deals_needed(0.7, 0.5) == 587


def test_verdict_no_effect_only_when_the_interval_rules_out_an_effect_that_matters():
    # A lift of 1.20 [1.04–1.40] at a 70 % base rate is an effect, not "no effect".
    assert verdict(0.08, 0.14, (1.2, 1.04, 1.4), 0.7, 300, 0.5) == ("not_yet", 587)
    # Base 30 %: the band is 0.667 … 1.5. Inside, holding 1: no effect.
    assert verdict(0.6, 0.0, (1.02, 0.85, 1.22), 0.3, 900, 0.5) == ("no_effect", None)
    # Reaching 1.6, or down to 0.625 (a loss effect not ruled out): cannot tell yet. Deals:
    # the z-test's 325 (p1 0.45 vs 0.3, half meeting), or narrowing the log half-width
    # ln 1.6 to the room ln 1.5: 400 · (0.47000 / 0.40547)² = 537.5 → 538.
    assert verdict(0.3, 0.0, (1.0, 1 / 1.6, 1.6), 0.3, 100, 0.5) == ("not_yet", 325)
    assert verdict(0.3, 0.0, (1.0, 1 / 1.6, 1.6), 0.3, 400, 0.5) == ("not_yet", 538)
    # Significant: by the sign of the difference; untested: not yet.
    assert verdict(0.01, -0.2, (0.5, 0.3, 0.8), 0.3, 400, 0.5) == ("predicts_loss", None)
    assert verdict(None, None, None, 0.3, 8, 0.5) == ("not_yet", 325)
