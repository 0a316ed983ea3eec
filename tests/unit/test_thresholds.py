"""The stable threshold and its spread; the paired bootstrap of an AP difference.

A threshold on a score flips that row at the smallest shift of the scores; the stable one sits
in a gap between scores and keeps what the rule chose (recall, precision floor). The bootstrap
interval decides whether "custom wins" or "AutoML wins" may be said at all.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest
from fraudops.metrics import ap_difference
from fraudops.thresholds import choose_threshold, stable_threshold, threshold_spread
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from tests.unit.test_metrics import scored


def decisions(scores: np.ndarray, threshold: float) -> np.ndarray:
    return np.asarray(scores) >= threshold


def precision_recall(y: np.ndarray, flagged: np.ndarray) -> tuple[float, float]:
    tp = int((flagged & (y == 1)).sum())
    return tp / max(int(flagged.sum()), 1), tp / int((y == 1).sum())


@st.composite
def labelled_scores(draw):
    """Labels with at least one fraud and scores in (0, 1], with ties and crowded regions."""
    n = draw(st.integers(20, 300))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < draw(st.floats(0.05, 0.5))).astype(int)
    y[rng.integers(n)] = 1
    raw = 1 / (1 + np.exp(-(rng.normal(size=n) + draw(st.floats(0.0, 4.0)) * y - 2)))
    digits = draw(st.sampled_from([2, 3, 6, 12]))  # few digits: many ties
    return y, np.clip(np.round(raw, digits), 10.0**-digits, 1.0)


@settings(max_examples=150, deadline=None)
@given(data=labelled_scores(), margin=st.sampled_from([0.005, 0.01, 0.05]))
def test_the_stable_threshold_keeps_the_rules_recall_and_precision_floor(data, margin):
    y, s = data
    rule = {"strategy": "min_precision", "min_precision": 0.5}
    unreachable = _unreachable(y, s, 0.5)  # then both fall back to best F1, with a warning
    with pytest.warns(UserWarning) if unreachable else nullcontext():
        plain = choose_threshold(y, s, **rule)
    with pytest.warns(UserWarning) if unreachable else nullcontext():
        stable = choose_threshold(y, s, margin=margin, **rule)
    p0, r0 = precision_recall(y, decisions(s, plain))
    p1, r1 = precision_recall(y, decisions(s, stable))
    assert r1 == r0  # no fraud gained or lost
    assert p1 >= min(0.5, p0) - 1e-12  # the floor holds (or the fallback's own precision)
    assert stable <= plain  # it only ever adds legitimate rows below the chosen score
    assert not np.isin(stable, s)  # off every score
    gap_ends = (s[s >= stable].min(), s[s < stable].max(initial=0.0))
    if gap_ends[1] > 0 and gap_ends[0] / gap_ends[1] >= 1 / (1 - margin) ** 2:
        # Where it found a wide enough gap, shifting every score by the margin changes nothing.
        for factor in (1 - margin, 1 + margin):
            assert (decisions(s * factor, stable) == decisions(s, stable)).all()


def _unreachable(y, s, floor) -> bool:
    from fraudops.thresholds import operating_points

    return not (operating_points(y, s)[1] >= floor).any()


def test_a_threshold_on_a_fraud_moves_into_the_gap_below_it_when_that_gap_is_wide():
    y = np.array([1, 1, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.5, 0.3, 0.1])
    plain = choose_threshold(y, s, strategy="min_precision", min_precision=0.7)
    assert plain == 0.5  # catches all three frauds at precision 0.75
    stable = stable_threshold(y, s, plain, margin=0.01, min_precision=0.7)
    assert stable == pytest.approx(np.sqrt(0.5 * 0.3))  # same decisions, in the middle of the gap
    assert (decisions(s, stable) == decisions(s, plain)).all()


def test_a_narrow_gap_is_passed_over_for_a_wide_one_while_precision_allows():
    y = np.array([1, 1, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.5, 0.499, 0.498, 0.2, 0.1, 0.05])
    stable = stable_threshold(y, s, 0.5, margin=0.01, min_precision=0.5)
    # 0.5 / 0.499 and 0.499 / 0.498 are too narrow; 0.498 / 0.2 is wide and precision 2/4 holds.
    assert stable == pytest.approx(np.sqrt(0.498 * 0.2))
    # With a higher floor the search stops before that gap and takes the widest it may.
    higher = stable_threshold(y, s, 0.5, margin=0.01, min_precision=0.9)
    assert 0.499 < higher < 0.5


def test_the_spread_names_the_lowest_middle_and_highest_threshold_of_the_folds():
    y, s, _ = scored(n=3_000, seed=3)
    spread = threshold_spread(y, s, folds=5, strategy="min_precision", min_precision=0.6)
    assert spread["folds"] == 5
    assert spread["min"] <= spread["median"] <= spread["max"]
    chosen = choose_threshold(y, s, strategy="min_precision", min_precision=0.6)
    assert spread["min"] <= chosen * 1.5 and chosen <= spread["max"] * 1.5


def test_the_ap_difference_is_scikit_learns_and_its_interval_covers_it():
    y, a, w = scored(n=4_000, seed=1)
    b = np.clip(a + np.random.default_rng(2).normal(0, 0.2, len(a)), 0, 1)
    for weight in (None, w):
        result = ap_difference(y, a, b, sample_weight=weight, resamples=300)
        exact = average_precision_score(y, a, sample_weight=weight) - average_precision_score(
            y, b, sample_weight=weight
        )
        assert result["difference"] == pytest.approx(exact, abs=1e-12)
        assert result["low"] <= result["difference"] <= result["high"]
        assert result["resamples"] == 300


def test_a_clearly_better_model_wins_and_a_copy_ties():
    y, a, _ = scored(n=4_000, seed=4)
    noise = np.random.default_rng(5).random(len(a))
    worse = 0.3 * a + 0.7 * noise
    assert ap_difference(y, a, worse, resamples=300)["verdict"] == "a"
    assert ap_difference(y, worse, a, resamples=300)["verdict"] == "b"
    same = ap_difference(y, a, a + 1e-9 * noise, resamples=300)  # the same ranking, nearly
    assert same["verdict"] == "tie"


def test_the_ap_difference_refuses_what_it_cannot_measure():
    y, a, _ = scored(n=200)
    with pytest.raises(ValueError, match="scores_b has"):
        ap_difference(y, a, a[:-1])
    with pytest.raises(ValueError, match="no fraud"):
        ap_difference(np.zeros(10, dtype=int), np.linspace(0, 1, 10), np.linspace(0, 1, 10))


def test_with_groups_the_difference_is_the_mean_of_each_groups_difference():
    """Cross-validation folds: each fold's models score on their own scale."""
    y, a, _ = scored(n=4_000, seed=6)
    b = np.clip(a + np.random.default_rng(7).normal(0, 0.2, len(a)), 0, 1)
    folds = np.arange(len(y)) % 4
    b[folds == 1] *= 0.01  # one fold's model scores everything 100 times lower
    result = ap_difference(y, a, b, groups=folds, resamples=200)
    per_fold = [
        average_precision_score(y[folds == k], a[folds == k])
        - average_precision_score(y[folds == k], b[folds == k])
        for k in range(4)
    ]
    assert result["difference"] == pytest.approx(np.mean(per_fold), abs=1e-12)
    assert result["low"] <= result["difference"] <= result["high"]
