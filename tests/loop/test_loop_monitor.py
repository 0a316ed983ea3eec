"""The monitor's verdict on streams with and without drift (fixed seeds, several windows each).

The windows are what the prediction log would hold had a served model scored the stream
(:func:`level2.simulate.score_offline`), so many windows cost seconds, not a service run; the
decision is the one ``fraudops monitor`` takes (:func:`fraudops.monitoring.summarize`).
"""

from __future__ import annotations

import pandas as pd
import pytest
from fraudops import monitoring
from fraudops.data import generate
from fraudops.models import make_model
from fraudops.schema import FEATURES, TARGET

from level2.simulate import TrafficPlan, make_stream, score_offline

WINDOW = 3_000
PARAMS = monitoring.MonitorParams(
    window=WINDOW, reference_rows=5_000, min_window=1_000, min_labels=500, min_fraud_labels=15
)


@pytest.fixture(scope="module")
def champion() -> tuple[object, float, pd.DataFrame, dict[str, float]]:
    """A logistic-regression champion trained on generated data, its threshold, the reference
    (its training rows, scored) and its offline recall and AP."""
    from sklearn.metrics import average_precision_score

    train = generate(rows=20_000, seed=3, fraud_rate=0.01)
    model = make_model("logreg", "class_weight", seed=0).fit(train[list(FEATURES)], train[TARGET])
    reference = train.sample(n=PARAMS.reference_rows, random_state=0).reset_index(drop=True)
    reference["score"] = model.predict_proba(reference[list(FEATURES)])[:, 1]
    threshold = 0.9
    holdout = generate(rows=10_000, seed=4, fraud_rate=0.01, start_time=172_800)
    scores = model.predict_proba(holdout[list(FEATURES)])[:, 1]
    frauds = holdout[TARGET] == 1
    offline = {
        "recall": float((scores[frauds] >= threshold).mean()),
        "average_precision": float(average_precision_score(holdout[TARGET], scores)),
    }
    return model, threshold, reference, offline


def verdicts(champion, scenario: str, windows: int, seed: int) -> list[dict]:
    """The monitor's summaries of consecutive windows of one stream, oldest first."""
    model, threshold, reference, offline = champion
    plan = TrafficPlan(
        rows=windows * WINDOW,
        scenario=scenario,
        drift_at=0,
        fraud_rate=0.01,
        start_time=4 * 86_400,
        seed=seed,
    )
    logged = score_offline(make_stream(plan), model, threshold)
    history: list[dict] = []
    for k in range(windows):
        window = logged.iloc[k * WINDOW : (k + 1) * WINDOW]
        summary, _ = monitoring.summarize(window, reference, offline, history, PARAMS)
        history.append(summary)
    return history


@pytest.mark.parametrize("seed", [21, 22])
def test_a_stream_without_drift_never_asks_for_retraining(champion, seed):
    history = verdicts(champion, "none", windows=4, seed=seed)
    assert [s["retrain"] for s in history] == [False] * 4, [s["reasons"] for s in history]
    assert not any(s["drift_detected"] for s in history)


def test_covariate_drift_is_flagged_after_the_consecutive_windows(champion):
    history = verdicts(champion, "covariate", windows=3, seed=31)
    assert all(s["drift_detected"] for s in history)
    # Debounced: one drifted window is not enough, the second in a row is.
    assert [s["retrain"] for s in history] == [False, True, True]
    assert "dataset drift" in history[1]["reasons"][0]
    assert {"Amount"} <= set(history[0]["drift"]["drifted_features"])


def test_concept_drift_is_flagged_by_live_recall_in_its_first_window(champion):
    _, _, _, offline = champion
    history = verdicts(champion, "concept", windows=2, seed=41)
    for summary in history:
        assert summary["retrain"], summary["reasons"]
        assert summary["performance"]["recall"] < offline["recall"] - PARAMS.recall_drop
        assert any("live recall" in r and "below" in r for r in summary["reasons"])


def test_too_few_labels_cannot_trigger_retraining(champion):
    model, threshold, reference, offline = champion
    plan = TrafficPlan(rows=WINDOW, scenario="concept", drift_at=0, fraud_rate=0.01, seed=51)
    logged = score_offline(make_stream(plan), model, threshold)
    logged["label"] = logged["label"].where(logged.index < 300)  # labels are late: only 300
    summary, _ = monitoring.summarize(logged, reference, offline, [], PARAMS)
    assert not summary["retrain"]
    assert any("too few labels" in r for r in summary["reasons"])
