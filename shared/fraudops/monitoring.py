"""Production monitoring: data drift, score drift, live performance and latency, and a decision.

A monitoring run looks at one *window* of the prediction log (the last N predictions) against a
*reference* (the champion's training data, scored by the champion) and answers one question:
should we retrain? The answer comes with its reasons, so a person reading the workflow log or
``summary.json`` can check it.

Two kinds of evidence, because they fail differently:

- **Drift** needs no labels, so it is seen at once, but it is indirect: the inputs changed, the
  model may or may not suffer. Evidently's column tests (Wasserstein distance for numeric
  columns, normalised by the reference spread) flag each feature; the dataset drifts when the
  share of drifted features reaches ``drift_share``. A single drifted window can be noise, so
  drift triggers retraining only after ``consecutive_windows`` drifted windows in a row.
- **Live performance** is direct, but waits for labels (chargebacks arrive days later) and needs
  many of them: frauds are rare, so recall on 20 frauds is a coin toss. It triggers retraining
  when recall or average precision falls more than a bound below the champion's offline figure,
  and only with at least ``min_labels`` labels of which ``min_fraud_labels`` frauds.

``Time`` is left out of the drift test: it grows by construction in production.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_score, recall_score

from fraudops.monitoring_report import report_html
from fraudops.schema import AMOUNT, V_COLUMNS

#: The columns tested for drift (``Time`` only grows, so it always "drifts").
DRIFT_COLUMNS: tuple[str, ...] = (*V_COLUMNS, AMOUNT)
SCORE = "score"


@dataclass(frozen=True)
class MonitorParams:
    """The ``monitor`` section of ``params.yaml``: every threshold of the decision.

    Attributes:
        window: predictions per monitoring window (the last N in the log).
        reference_rows: rows sampled from the reference data (speed; the test is distributional).
        min_window: fewer predictions than this: no drift verdict (too little data).
        drift_threshold: per-feature drift when the normalised Wasserstein distance exceeds it.
        drift_share: dataset drift when at least this share of features drift.
        score_drift_threshold: the same distance on the model's scores.
        consecutive_windows: drifted windows in a row before drift alone triggers retraining.
        min_labels: labeled predictions needed before live metrics can trigger retraining.
        min_fraud_labels: ... of which at least this many frauds (recall is about frauds).
        recall_drop: retrain when live recall < champion recall - recall_drop.
        ap_drop: retrain when live AP < champion AP - ap_drop.
        seed: for the reference sample.
    """

    window: int = 5_000
    reference_rows: int = 20_000
    min_window: int = 1_000
    drift_threshold: float = 0.1
    drift_share: float = 0.3
    score_drift_threshold: float = 0.1
    consecutive_windows: int = 2
    min_labels: int = 500
    min_fraud_labels: int = 20
    recall_drop: float = 0.15
    ap_drop: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"monitor.{name} must be a number >= 0, got {value!r}")
        if not 0 < self.drift_share <= 1:
            raise ValueError(f"monitor.drift_share must be in (0, 1], got {self.drift_share}")


def drift(
    reference: pd.DataFrame, current: pd.DataFrame, params: MonitorParams
) -> tuple[dict[str, Any], Any]:
    """Per-feature, dataset and score drift between two frames, with Evidently.

    Args:
        reference: rows with ``DRIFT_COLUMNS`` and ``score`` (the champion's scores on them).
        current: the window, same columns.
        params: thresholds.

    Returns:
        ``(summary, snapshot)``: the summary dict (``features``: column -> distance,
        ``drifted_features``, ``drift_share``, ``dataset_drift``, ``score_distance``,
        ``score_drift``) and Evidently's snapshot, which renders the HTML report.
    """
    from evidently import Report
    from evidently.metrics import ValueDrift
    from evidently.tests import lte

    columns = [*DRIFT_COLUMNS, SCORE]
    method = "wasserstein"
    # One ValueDrift per column and nothing else: Evidently's DriftedColumnsCount would compute
    # every column's drift a second time (a quarter of the run on a 50,000-row window); the
    # dataset verdict is the share of drifted columns, counted below from the same numbers.
    # Each carries the project's threshold as an Evidently test (a column drifts when its
    # distance exceeds the threshold, so the test passes at or below it).
    metrics = [
        *[
            ValueDrift(
                column=c,
                method=method,
                threshold=params.drift_threshold,
                tests=[lte(params.drift_threshold)],
            )
            for c in DRIFT_COLUMNS
        ],
        ValueDrift(
            column=SCORE,
            method=method,
            threshold=params.score_drift_threshold,
            tests=[lte(params.score_drift_threshold)],
        ),
    ]
    snapshot = Report(metrics).run(
        reference_data=reference[columns].reset_index(drop=True),
        current_data=current[columns].reset_index(drop=True),
    )
    distances: dict[str, float] = {}
    for result in snapshot.dict()["metrics"]:
        config = result["config"]
        if config["type"].endswith("ValueDrift"):
            distances[config["column"]] = float(result["value"])
    features = {c: distances[c] for c in DRIFT_COLUMNS}
    drifted = sorted(
        (c for c, d in features.items() if d > params.drift_threshold), key=lambda c: -features[c]
    )
    share = len(drifted) / len(features)
    return (
        {
            "method": "Wasserstein distance (normed)",
            "features": features,
            "drifted_features": drifted,
            "drift_share": share,
            "dataset_drift": share >= params.drift_share,
            "score_distance": distances[SCORE],
            "score_drift": distances[SCORE] > params.score_drift_threshold,
        },
        snapshot,
    )


def live_performance(window: pd.DataFrame) -> dict[str, Any]:
    """Precision, recall and AP on the labeled rows of a window.

    Args:
        window: prediction-log rows with ``score``, ``is_fraud`` (the decision) and ``label``
            (the true class from feedback, missing where none arrived yet).

    Returns:
        ``n_labels``, ``n_fraud_labels``, and ``precision``, ``recall``, ``average_precision``
        (``None`` where undefined: no labels, or no fraud among them).
    """
    labeled = window[window["label"].notna()]
    y = labeled["label"].astype(int).to_numpy()
    decision = labeled["is_fraud"].astype(int).to_numpy()
    n_fraud = int(y.sum())
    out: dict[str, Any] = {"n_labels": len(y), "n_fraud_labels": n_fraud}
    if n_fraud == 0 or n_fraud == len(y):
        out.update(precision=None, recall=None, average_precision=None)
        return out
    out["recall"] = float(recall_score(y, decision, zero_division=0))
    out["precision"] = float(precision_score(y, decision, zero_division=0))
    out["average_precision"] = float(average_precision_score(y, labeled["score"]))
    return out


def latency(window: pd.DataFrame) -> dict[str, float | None]:
    """p50 and p99 of the logged per-request latency, in milliseconds."""
    values = window["latency_ms"].dropna().to_numpy(dtype=float)
    if values.size == 0:
        return {"p50_ms": None, "p99_ms": None}
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50_ms": float(p50), "p99_ms": float(p99)}


def decide(
    summary: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    champion: Mapping[str, float | None],
    params: MonitorParams,
) -> tuple[bool, list[str]]:
    """Retrain or not, and why. Pure: the whole rule is here.

    Args:
        summary: this window's ``n_predictions``, ``drift`` and ``performance`` sections.
        history: earlier summaries, oldest first (for consecutive drifted windows).
        champion: the champion's offline ``recall`` and ``average_precision``.
        params: thresholds.

    Returns:
        ``(retrain, reasons)``; the reasons explain the verdict either way.
    """
    reasons: list[str] = []
    retrain = False
    n = summary["n_predictions"]
    drifted = bool(summary["drift"] and summary["drift"]["dataset_drift"])
    if summary["drift"] is None:
        reasons.append(f"window too small for a drift verdict ({n} < {params.min_window})")
    else:
        streak = 0
        for past in [*history, summary]:
            same_model = past.get("model_version") == summary.get("model_version")
            streak = (
                streak + 1
                if (same_model and past["drift"] and past["drift"]["dataset_drift"])
                else 0
            )
        share = summary["drift"]["drift_share"]
        if drifted:
            reasons.append(
                f"dataset drift: {share:.0%} of features drifted (>= {params.drift_share:.0%}); "
                f"{streak} drifted window(s) in a row, {params.consecutive_windows} needed"
            )
            if streak >= params.consecutive_windows:
                retrain = True
        else:
            reasons.append(f"no dataset drift ({share:.0%} of features drifted)")

    perf = summary["performance"]
    if perf["n_labels"] < params.min_labels or perf["n_fraud_labels"] < params.min_fraud_labels:
        reasons.append(
            f"too few labels to judge live performance ({perf['n_labels']} labels, "
            f"{perf['n_fraud_labels']} frauds; need {params.min_labels} and "
            f"{params.min_fraud_labels})"
        )
        return retrain, reasons
    for key, bound, name in (
        ("recall", params.recall_drop, "recall"),
        ("average_precision", params.ap_drop, "AP"),
    ):
        live, offline = perf.get(key), champion.get(key)
        if live is None or offline is None:
            continue
        if live < offline - bound:
            retrain = True
            reasons.append(
                f"live {name} {live:.3f} is more than {bound:.2f} below the champion's offline "
                f"{offline:.3f} (on {perf['n_labels']} labels)"
            )
        else:
            reasons.append(f"live {name} {live:.3f} holds (champion offline {offline:.3f})")
    return retrain, reasons


def champion_offline_metrics(info: Mapping[str, Any]) -> dict[str, float | None]:
    """The champion's offline recall, precision and AP from its registry entry.

    The promotion gate tags the figures it measured on the holdout
    (``gate.challenger.<metric>``); a version promoted by hand falls back to its run's
    ``test_<metric>`` metrics. The decision uses recall and AP; precision is shown beside the
    live figure (report, dashboard, MLflow).
    """
    out: dict[str, float | None] = {}
    for key in ("recall", "precision", "average_precision"):
        value = info.get("tags", {}).get(f"gate.challenger.{key}")
        if value is None:
            value = info.get("metrics", {}).get(f"test_{key}")
        out[key] = None if value is None else float(value)
    return out


def summarize(
    window: pd.DataFrame,
    reference: pd.DataFrame,
    champion: Mapping[str, float | None],
    history: Sequence[Mapping[str, Any]],
    params: MonitorParams,
) -> tuple[dict[str, Any], Any]:
    """Everything a monitoring run reports about one window, and the decision.

    Args:
        window: prediction-log rows (features, ``score``, ``is_fraud``, ``label``,
            ``latency_ms``, ``model_version``, ``ts``).
        reference: reference rows with features and ``score``.
        champion: the champion's offline metrics (see :func:`champion_offline_metrics`).
        history: earlier summaries, oldest first.
        params: thresholds.

    Returns:
        ``(summary, snapshot)``; ``snapshot`` is ``None`` when the window was too small.
    """
    versions = window["model_version"].dropna().astype(str)
    summary: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "n_predictions": len(window),
        "model_version": versions.iloc[-1] if len(versions) else None,
        "window_start_ts": float(window["ts"].min()) if len(window) else None,
        "window_end_ts": float(window["ts"].max()) if len(window) else None,
        "drift": None,
        "performance": live_performance(window),
        "latency": latency(window),
        "champion_offline": dict(champion),
        "params": asdict(params),
    }
    snapshot = None
    if len(window) >= params.min_window:
        summary["drift"], snapshot = drift(reference, window, params)
    retrain, reasons = decide(summary, history, champion, params)
    summary["drift_detected"] = bool(summary["drift"] and summary["drift"]["dataset_drift"])
    summary["retrain"] = retrain
    summary["reasons"] = reasons
    return summary, snapshot


def read_history(path: Path) -> list[dict[str, Any]]:
    """Earlier summaries from a JSON-lines history file (missing file: none)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_outputs(
    summary: Mapping[str, Any], snapshot: Any, out_dir: Path, history_path: Path
) -> Path:
    """Write ``summary.json`` and ``report.html`` (the decision, then Evidently's report of the
    window when there is one) to a new time-stamped folder and append the summary to the
    history file.

    Returns:
        The folder written.
    """
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    folder = out_dir / stamp
    suffix = 1
    while folder.exists():  # two runs in the same second keep both reports
        folder = out_dir / f"{stamp}-{suffix}"
        suffix += 1
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    # The decision first, then Evidently's details (fraudops.monitoring_report), for every run.
    (folder / "report.html").write_text(report_html(summary, snapshot), encoding="utf-8")
    history_path.parent.mkdir(parents=True, exist_ok=True)
    with history_path.open("a") as fh:
        fh.write(json.dumps({**summary, "report_dir": str(folder)}) + "\n")
    return folder
