"""The promotion rule: which challengers replace the champion, and what the reason says."""

from __future__ import annotations

import math

import pytest
from fraudops.gate import Decision, GateRule, decide, decide_all
from hypothesis import assume, given
from hypothesis import strategies as st

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
tolerance = st.floats(min_value=0.0, max_value=0.2, allow_nan=False)
# Margins keep generated values clear of the exact boundary, where float rounding decides.
margin = st.floats(min_value=1e-6, max_value=0.5, allow_nan=False)


def metrics(ap: float, recall: float) -> dict[str, float]:
    return {"average_precision": ap, "recall": recall, "precision": 0.5, "threshold": 0.5}


def in_range(m: dict[str, float]) -> bool:
    """Metrics a real model can have (both are proportions)."""
    return 0.0 <= m["average_precision"] <= 1.0 and 0.0 <= m["recall"] <= 1.0


@given(
    champion_ap=unit,
    champion_recall=unit,
    rule_ap=tolerance,
    rule_recall=tolerance,
    d_ap=margin,
    d_recall=margin,
)
def test_a_challenger_within_both_tolerances_is_promoted(
    champion_ap, champion_recall, rule_ap, rule_recall, d_ap, d_recall
):
    rule = GateRule(ap_tolerance=rule_ap, max_recall_drop=rule_recall)
    # Anywhere from "just inside the tolerance" upwards.
    challenger = metrics(champion_ap - rule_ap + d_ap, champion_recall - rule_recall + d_recall)
    assume(in_range(challenger))
    decision = decide(challenger, metrics(champion_ap, champion_recall), rule)
    assert decision.promote, decision.reason


@given(
    champion_ap=unit,
    champion_recall=unit,
    rule_ap=tolerance,
    rule_recall=tolerance,
    d_ap=margin,
    recall=unit,
)
def test_a_challenger_losing_too_much_average_precision_is_refused(
    champion_ap, champion_recall, rule_ap, rule_recall, d_ap, recall
):
    rule = GateRule(ap_tolerance=rule_ap, max_recall_drop=rule_recall)
    challenger = metrics(champion_ap - rule_ap - d_ap, recall)
    assume(in_range(challenger))
    decision = decide(challenger, metrics(champion_ap, champion_recall), rule)
    assert not decision.promote
    assert "average precision" in decision.reason
    assert f"{challenger['average_precision']:.4f}" in decision.reason
    recall_ok = recall >= champion_recall - rule_recall
    assert ("recall" in decision.reason) == (not recall_ok)


@given(
    champion_ap=unit,
    champion_recall=unit,
    rule_ap=tolerance,
    rule_recall=tolerance,
    ap=unit,
    d_recall=margin,
)
def test_a_challenger_losing_too_much_recall_is_refused(
    champion_ap, champion_recall, rule_ap, rule_recall, ap, d_recall
):
    rule = GateRule(ap_tolerance=rule_ap, max_recall_drop=rule_recall)
    challenger = metrics(ap, champion_recall - rule_recall - d_recall)
    assume(in_range(challenger))
    decision = decide(challenger, metrics(champion_ap, champion_recall), rule)
    assert not decision.promote
    assert "recall" in decision.reason
    assert f"{challenger['recall']:.4f}" in decision.reason
    ap_ok = ap >= champion_ap - rule_ap
    assert ("average precision" in decision.reason) == (not ap_ok)


@given(
    ap=unit, recall=unit, champion_ap=unit, champion_recall=unit, better_ap=unit, better_recall=unit
)
def test_improving_a_promoted_challenger_keeps_it_promoted(
    ap, recall, champion_ap, champion_recall, better_ap, better_recall
):
    rule = GateRule(ap_tolerance=0.01, max_recall_drop=0.05)
    champion = metrics(champion_ap, champion_recall)
    if decide(metrics(ap, recall), champion, rule).promote:
        improved = metrics(max(ap, better_ap), max(recall, better_recall))
        assert decide(improved, champion, rule).promote


@given(ap=unit, recall=unit)
def test_the_first_model_is_promoted_whatever_its_figures(ap, recall):
    decision = decide(metrics(ap, recall), None, GateRule(0.0, 0.0))
    assert decision == Decision(True, decision.reason)
    assert "first model" in decision.reason


def test_an_exact_tie_with_no_tolerance_is_promoted():
    # Retraining on the same data may reproduce the champion exactly; that is not a regression.
    same = metrics(0.8, 0.7)
    assert decide(same, same, GateRule(0.0, 0.0)).promote


def test_a_reason_for_promotion_states_both_checks_with_numbers():
    decision = decide(metrics(0.81, 0.74), metrics(0.80, 0.75), GateRule(0.0, 0.02))
    assert decision.promote
    assert "average precision 0.8100 >= 0.8000" in decision.reason
    assert "recall 0.7400 >= 0.7300" in decision.reason


def test_a_nan_metric_never_passes():
    # A holdout or model bug that yields NaN must not promote by accident.
    decision = decide(metrics(math.nan, 0.9), metrics(0.5, 0.5), GateRule(0.01, 0.05))
    assert not decision.promote
    assert "average precision nan" in decision.reason


def test_missing_metric_is_named():
    with pytest.raises(ValueError, match="challenger metrics lack 'recall'"):
        decide({"average_precision": 0.9}, metrics(0.5, 0.5), GateRule(0.01, 0.05))


@pytest.mark.parametrize("field", ["ap_tolerance", "max_recall_drop"])
@pytest.mark.parametrize("value", [-0.01, math.nan, math.inf])
def test_a_rule_with_a_negative_or_non_finite_tolerance_is_rejected(field, value):
    kwargs = {"ap_tolerance": 0.01, "max_recall_drop": 0.05, field: value}
    with pytest.raises(ValueError, match=f"GateRule.{field}"):
        GateRule(**kwargs)


# -- several holdouts (Level 2: the pipeline's holdout and the latest production window) -----

pair = st.tuples(unit, unit)


@given(
    holdouts=st.lists(st.tuples(pair, pair), min_size=1, max_size=4),
    rule_ap=tolerance,
    rule_recall=tolerance,
)
def test_on_several_holdouts_the_gate_never_promotes_a_model_worse_on_any_of_them(
    holdouts, rule_ap, rule_recall
):
    rule = GateRule(ap_tolerance=rule_ap, max_recall_drop=rule_recall)
    results = [
        (f"holdout-{k}", metrics(*challenger), metrics(*champion))
        for k, (challenger, champion) in enumerate(holdouts)
    ]
    worse_somewhere = any(
        c["average_precision"] < ch["average_precision"] - rule_ap
        or c["recall"] < ch["recall"] - rule_recall
        for _, c, ch in results
    )
    decision = decide_all(results, rule)
    assert decision.promote == (not worse_somewhere)
    if worse_somewhere and len(results) > 1:
        # The refusal names the holdout(s) where the challenger lost.
        failing = [n for n, c, ch in results if not decide(c, ch, rule).promote]
        assert all(f"on {name}:" in decision.reason for name in failing)


@given(champion=pair, d_ap=margin, rule_ap=tolerance, rule_recall=tolerance)
def test_better_on_the_old_holdout_but_worse_on_production_traffic_is_refused(
    champion, d_ap, rule_ap, rule_recall
):
    # The concept-drift case: the old holdout no longer looks like production.
    rule = GateRule(ap_tolerance=rule_ap, max_recall_drop=rule_recall)
    ap, recall = champion
    production = metrics(ap - rule_ap - d_ap, recall)
    assume(in_range(production))
    results = [
        ("old holdout", metrics(1.0, 1.0), metrics(*champion)),
        ("production window", production, metrics(*champion)),
    ]
    decision = decide_all(results, rule)
    assert not decision.promote
    assert "on production window:" in decision.reason


def test_decide_all_needs_a_holdout():
    with pytest.raises(ValueError, match="no holdout"):
        decide_all([], GateRule(0.01, 0.05))
