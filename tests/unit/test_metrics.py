"""Metrics agree with scikit-learn (weighted or not); thresholds do what their rule says."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from fraudops.metrics import (
    curve_points,
    evaluate,
    plot_confusion_matrix,
    plot_pr_curve,
    plot_roc_curve,
)
from fraudops.thresholds import choose_threshold
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def scored(n: int = 2_000, fraud_rate: float = 0.05, seed: int = 0):
    """Labels, informative but noisy scores, and weights like the real sample's (legit x 57.79)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < fraud_rate).astype(int)
    scores = 1 / (1 + np.exp(-(rng.normal(size=n) + 2.5 * y - 2)))
    weights = np.where(y == 1, 1.0, 57.79)
    return y, scores, weights


@pytest.mark.parametrize("weighted", [False, True])
def test_evaluate_matches_scikit_learn(weighted):
    y, s, w = scored()
    w = w if weighted else None
    threshold = 0.4
    m = evaluate(y, s, threshold, sample_weight=w)
    flagged = (s >= threshold).astype(int)
    assert m["average_precision"] == pytest.approx(average_precision_score(y, s, sample_weight=w))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    assert m["precision"] == pytest.approx(precision_score(y, flagged, sample_weight=w))
    assert m["recall"] == pytest.approx(recall_score(y, flagged, sample_weight=w))
    assert m["f1"] == pytest.approx(f1_score(y, flagged, sample_weight=w))
    (tn, fp), (fn, tp) = confusion_matrix(y, flagged, sample_weight=w)
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == pytest.approx((tn, fp, fn, tp))
    total = len(y) if w is None else w.sum()
    assert m["n"] == pytest.approx(total)
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == pytest.approx(total)
    assert m["n_fraud"] == pytest.approx(y.sum())  # frauds have weight 1
    assert m["threshold"] == threshold


def test_evaluate_puts_average_precision_first_and_is_json_ready():
    y, s, _ = scored()
    m = evaluate(y, s, 0.5)
    assert next(iter(m)) == "average_precision"
    assert set(m) == {
        "average_precision", "roc_auc", "precision", "recall", "f1", "recall_at_precision",
        "threshold", "tp", "fp", "tn", "fn", "n", "n_fraud",
    }  # fmt: skip
    assert all(isinstance(m[k], int) for k in ("tp", "fp", "tn", "fn", "n", "n_fraud"))
    json.dumps(m)  # metrics files and MLflow take plain Python numbers


def test_weighting_the_legit_rows_lowers_precision_not_recall():
    y, s, w = scored()
    plain, weighted = evaluate(y, s, 0.5), evaluate(y, s, 0.5, sample_weight=w)
    assert weighted["recall"] == pytest.approx(plain["recall"])
    assert weighted["precision"] < plain["precision"]
    assert weighted["average_precision"] < plain["average_precision"]


@pytest.mark.parametrize("weighted", [False, True])
def test_recall_at_precision_is_the_best_recall_above_the_target(weighted):
    y, s, w = scored(seed=1)
    w = w if weighted else None
    m = evaluate(y, s, 0.5, sample_weight=w, precision_target=0.3)
    precision, recall, _ = precision_recall_curve(y, s, sample_weight=w)
    assert m["recall_at_precision"] == pytest.approx(recall[precision >= 0.3].max())
    assert 0 < m["recall_at_precision"] < 1


def test_recall_at_precision_is_zero_when_the_target_is_unreachable():
    y, s, _ = scored()
    s = np.where(y == 1, 0.0, s)  # frauds score lowest: no threshold is precise
    assert evaluate(y, s, 0.5, precision_target=0.5)["recall_at_precision"] == 0.0


def test_flagging_nothing_gives_zero_precision_not_an_error():
    y, s, _ = scored()
    m = evaluate(y, s, threshold=2.0)
    assert (m["tp"], m["fp"], m["precision"], m["recall"], m["f1"]) == (0, 0, 0.0, 0.0, 0.0)


def test_one_class_only_leaves_ranking_metrics_undefined():
    m = evaluate([0, 0, 0], [0.1, 0.9, 0.3], 0.5)
    assert np.isnan(m["average_precision"]) and np.isnan(m["roc_auc"])
    assert (m["fp"], m["tn"]) == (1, 2)


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([0, 1], [0.1], "2 rows but scores has 1"),
        ([0, 2], [0.1, 0.2], "only 0 and 1"),
        ([0, 1], [0.1, np.nan], r"row\(s\) \[1\]"),
    ],
)
def test_bad_inputs_are_explained(y, s, message):
    with pytest.raises(ValueError, match=message):
        evaluate(y, s, 0.5)


@pytest.mark.parametrize("weighted", [False, True])
def test_best_f1_threshold_beats_every_other_candidate(weighted):
    y, s, w = scored(n=300, fraud_rate=0.15, seed=2)
    w = w if weighted else None
    chosen = choose_threshold(y, s, sample_weight=w)

    def f1_at(t):
        return f1_score(y, s >= t, sample_weight=w)

    best = max(f1_at(t) for t in np.unique(s))
    assert f1_at(chosen) == pytest.approx(best)
    assert chosen in s


def test_weighting_legit_rows_raises_the_best_f1_threshold():
    # Each false alarm costs 57.79 times more, so the best trade-off flags fewer rows.
    y, s, w = scored(seed=3)
    assert choose_threshold(y, s, sample_weight=w) > choose_threshold(y, s)


@pytest.mark.parametrize("min_precision", [0.3, 0.6])
def test_min_precision_threshold_keeps_precision_and_maximises_recall(min_precision):
    y, s, _ = scored(n=300, fraud_rate=0.15, seed=4)
    chosen = choose_threshold(y, s, strategy="min_precision", min_precision=min_precision)
    assert precision_score(y, s >= chosen) >= min_precision
    reachable = [
        recall_score(y, s >= t) for t in np.unique(s) if precision_score(y, s >= t) >= min_precision
    ]
    assert recall_score(y, s >= chosen) == pytest.approx(max(reachable))


def test_unreachable_precision_falls_back_to_best_f1_with_a_warning():
    y, s, _ = scored(seed=5)
    with pytest.warns(UserWarning, match="falling back to the best-F1"):
        chosen = choose_threshold(y, s, strategy="min_precision", min_precision=1.01)
    assert chosen == choose_threshold(y, s, strategy="best_f1")


def test_reachable_precision_does_not_warn():
    y, s, _ = scored(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        choose_threshold(y, s, strategy="min_precision", min_precision=0.2)


def test_threshold_errors_name_the_problem():
    y, s, _ = scored()
    with pytest.raises(ValueError, match="best_f1"):
        choose_threshold(y, s, strategy="youden")
    with pytest.raises(ValueError, match="no fraud"):
        choose_threshold(np.zeros(10), np.linspace(0, 1, 10))


@pytest.mark.parametrize(
    ("kind", "x", "y_name"), [("pr", "recall", "precision"), ("roc", "fpr", "tpr")]
)
def test_curve_points_are_downsampled_records_that_keep_the_ends(kind, x, y_name):
    y, s, _ = scored(n=5_000)
    points = curve_points(y, s, kind=kind, max_points=50)
    assert 2 < len(points) <= 50
    assert set(points[0]) == {x, y_name, "threshold"}
    xs = [p[x] for p in points]
    assert min(xs) == 0.0 and max(xs) == 1.0  # both ends of the curve survive
    json.dumps(points)  # no infinity or NaN: DVC reads this as JSON


def test_curve_points_follow_the_full_curve():
    y, s, _ = scored(n=5_000)
    points = curve_points(y, s, kind="roc", max_points=100)
    # Each kept point's tpr is what the full-resolution ROC gives at its threshold.
    for p in points:
        if p["threshold"] is not None:
            flagged = s >= p["threshold"]
            assert p["tpr"] == pytest.approx(flagged[y == 1].mean())
            assert p["fpr"] == pytest.approx(flagged[y == 0].mean())


def test_curve_points_refuse_an_unknown_kind():
    y, s, _ = scored()
    with pytest.raises(ValueError, match="'pr', 'roc'"):
        curve_points(y, s, kind="det")


def test_plots_are_png_files(tmp_path):
    y, s, w = scored()
    paths = [
        plot_pr_curve(y, s, tmp_path / "pr.png", sample_weight=w),
        plot_roc_curve(y, s, tmp_path / "roc.png"),
        plot_confusion_matrix(y, s, 0.5, tmp_path / "plots" / "confusion.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size > 5_000  # a drawn figure, not an empty canvas
