"""One Evidently snapshot per monitoring run: drift, live quality, latency, the decision, tests.

The Evidently workspace and its dashboard (:mod:`fraudops.monitoring_workspace`) plot values
that Evidently metrics computed and stored in snapshots, so everything a person follows over
time has to be a metric of the run's snapshot. Three Evidently reports make it, because they
look at three different data sets:

- **drift** (:func:`fraudops.monitoring.drift`): the window against the reference, one
  ``ValueDrift`` per feature and one on the score;
- **quality**: the window alone (no reference: the champion's training data has no live labels).
  Evidently's ``Recall``, ``Precision`` and ``F1Score`` skip the rows whose ``label``
  is missing, so they are computed on the labeled rows (the same figures as
  :func:`fraudops.monitoring.live_performance`); ``QuantileValue`` gives the latency p50 and p99;
- **figures**: a one-row data set of the run's own figures that no Evidently metric computes
  (the dataset drift share, live average precision, label counts, the decision, the model
  version, the champion's offline figures), each read back by ``MeanValue`` so it is a metric
  like the others.

Each report carries Evidently tests with the project's thresholds (:class:`MonitorParams`), so the
run shows pass or fail in Evidently's own terms; the three are merged into one snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from fraudops.monitoring import SCORE, MonitorParams

#: Quantiles of ``latency_ms`` in the snapshot (the p99 is the service's latency target).
LATENCY_QUANTILES = (0.5, 0.99)
LATENCY = "latency_ms"
LABEL = "label"
DECISION = "is_fraud"


def figures(summary: Mapping[str, Any], params: MonitorParams) -> dict[str, float]:
    """The run's figures that go into the snapshot as one-row ``MeanValue`` columns.

    Figures that are undefined for this run (no drift verdict, no labels, no champion figure)
    are left out rather than stored as a number that would be plotted.

    Args:
        summary: the run's summary (:func:`fraudops.monitoring.summarize`).
        params: the thresholds (the live figures' retraining bounds are derived from them).

    Returns:
        Column name -> value.
    """
    perf = summary.get("performance") or {}
    offline = summary.get("champion_offline") or {}
    drift = summary.get("drift")
    out: dict[str, float | None] = {
        "retrain": float(bool(summary.get("retrain"))),
        "n_predictions": summary.get("n_predictions"),
        "n_labels": perf.get("n_labels"),
        "n_fraud_labels": perf.get("n_fraud_labels"),
        "live_average_precision": perf.get("average_precision"),
        "champion_recall": offline.get("recall"),
        "champion_precision": offline.get("precision"),
        "champion_average_precision": offline.get("average_precision"),
        "drift_share": None if drift is None else drift["drift_share"],
        "model_version": _number(summary.get("model_version")),
        "champion_version": _number(summary.get("champion_version")),
    }
    if offline.get("recall") is not None:
        out["recall_bound"] = offline["recall"] - params.recall_drop
    if offline.get("average_precision") is not None:
        out["average_precision_bound"] = offline["average_precision"] - params.ap_drop
    return {k: float(v) for k, v in out.items() if v is not None}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _enough_labels(summary: Mapping[str, Any], params: MonitorParams) -> bool:
    perf = summary.get("performance") or {}
    return (
        perf.get("n_labels", 0) >= params.min_labels
        and perf.get("n_fraud_labels", 0) >= params.min_fraud_labels
    )


def _figures_report(summary: Mapping[str, Any], params: MonitorParams) -> Any:
    """The figures report and its one-row data set, with the project's tests."""
    from evidently import Report
    from evidently.metrics import MeanValue
    from evidently.tests import eq, gte, lt

    values = figures(summary, params)
    # The thresholds of fraudops.monitoring.decide, as Evidently tests. A test that only warns
    # (is_critical=False) marks what makes a verdict impossible, not a failed one.
    tests: dict[str, list[Any]] = {
        "retrain": [eq(0)],
        "drift_share": [lt(params.drift_share)],
        "n_predictions": [gte(params.min_window, is_critical=False)],
        "n_labels": [gte(params.min_labels, is_critical=False)],
        "n_fraud_labels": [gte(params.min_fraud_labels, is_critical=False)],
    }
    if _enough_labels(summary, params) and "average_precision_bound" in values:
        tests["live_average_precision"] = [gte(values["average_precision_bound"])]
    metrics = [MeanValue(column=c, tests=tests.get(c) or None) for c in values]
    return Report(metrics), pd.DataFrame([values])


def _quality_report(window: pd.DataFrame, summary: Mapping[str, Any], params: MonitorParams):
    """Evidently's classification metrics on the labeled rows and the latency quantiles."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import F1Score, Precision, QuantileValue, Recall
    from evidently.tests import gte

    perf = summary.get("performance") or {}
    offline = summary.get("champion_offline") or {}
    frame = pd.DataFrame(
        {
            SCORE: window[SCORE].astype(float).to_numpy(),
            DECISION: window[DECISION].astype(int).to_numpy(),
            # Missing labels stay NaN: Evidently's classification metrics drop those rows.
            LABEL: window[LABEL].astype("Float64").astype(float).to_numpy(),
            LATENCY: window[LATENCY].astype(float).to_numpy(),
        }
    )
    metrics: list[Any] = []
    if frame[LATENCY].notna().any():
        metrics += [QuantileValue(column=LATENCY, quantile=q) for q in LATENCY_QUANTILES]
    # Recall and precision are undefined without both classes among the labels.
    if perf.get("recall") is not None:
        recall_tests = None
        if _enough_labels(summary, params) and offline.get("recall") is not None:
            recall_tests = [gte(offline["recall"] - params.recall_drop)]
        metrics += [Recall(tests=recall_tests), Precision(), F1Score()]
    if not metrics:
        return None, None
    # Labels only, no probabilities: with prediction_probas set, Evidently 0.7.23 fails on the
    # missing labels ("a mix of binary and continuous targets") instead of dropping those rows.
    definition = DataDefinition(
        numerical_columns=[SCORE, LATENCY],
        classification=[
            BinaryClassification(
                target=LABEL, prediction_labels=DECISION, prediction_probas=None, pos_label=1
            )
        ],
    )
    return Report(metrics), Dataset.from_pandas(frame, data_definition=definition)


def build(
    summary: Mapping[str, Any],
    window: pd.DataFrame,
    drift_snapshot: Any | None,
    params: MonitorParams,
) -> Any:
    """The run's Evidently snapshot: quality, the run's figures and drift, with their tests.

    Args:
        summary: the run's summary (its ``time`` becomes the snapshot's timestamp, so the
            dashboard's time axis is the monitoring runs').
        window: the prediction-log rows of the window (``score``, ``is_fraud``, ``label``,
            ``latency_ms``).
        drift_snapshot: the drift report's snapshot, or ``None`` (window too small for drift).
        params: the thresholds.

    Returns:
        An ``evidently`` ``Snapshot`` (renders HTML, and a workspace adds it as a run).
    """
    from evidently.core.report import Snapshot, metric_tests_stats, metric_tests_widget
    from evidently.core.serialization import ReportModel, SnapshotModel

    parts = []
    report, data = _quality_report(window, summary, params)
    if report is not None:
        parts.append(report.run(data, None))
    report, data = _figures_report(summary, params)
    parts.append(report.run(data, None))
    if drift_snapshot is not None:
        parts.append(drift_snapshot)
    models = [p.to_snapshot_model() for p in parts]
    metric_results = {k: v for m in models for k, v in m.metric_results.items()}
    top_level = [k for m in models for k in m.top_level_metrics]
    tests = [t for k in top_level for t in metric_results[k].tests]
    retrain = bool(summary.get("retrain"))
    merged = SnapshotModel(
        report=ReportModel(items=[]),
        name=f"monitoring {summary.get('time')}: {'retrain' if retrain else 'ok'}",
        timestamp=datetime.fromisoformat(summary["time"]).replace(tzinfo=None),
        metadata=metadata(summary),
        tags=["retrain" if retrain else "ok"],
        metric_results=metric_results,
        top_level_metrics=top_level,
        widgets=[w for m in models for w in m.widgets],
        tests_widgets=[metric_tests_stats(tests), metric_tests_widget(tests)] if tests else [],
    )
    return Snapshot.load_model(merged)


def metadata(summary: Mapping[str, Any]) -> dict[str, str]:
    """The snapshot's metadata: what a person filters runs by in the Evidently UI."""
    out = {
        "decision": "retrain" if summary.get("retrain") else "ok",
        "model_version": str(summary.get("model_version")),
        "champion_version": str(summary.get("champion_version")),
        "n_predictions": str(summary.get("n_predictions")),
    }
    return out
