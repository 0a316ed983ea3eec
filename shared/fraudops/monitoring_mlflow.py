"""A monitoring run's figures in MLflow, beside the champion's offline ones.

Each ``fraudops monitor`` run becomes a run of the ``fraudops-monitoring`` experiment (in the
store :mod:`fraudops.tracking` configures): the live figures as metrics (``live_recall``,
``live_precision``, ``live_average_precision``, label counts, drift share, score distance,
latency, ``retrain``), the champion's offline figures as ``champion_*`` metrics next to them, the
thresholds as parameters and ``summary.json`` as an artifact. The run is tied to the model it
judged by tags (``model_name``, ``model_version``, ``model_id``), and, as MLflow 3 allows, its
live metrics are also logged against the champion's logged model (``log_metrics(model_id=...)``),
so the model's page in the MLflow UI lists live quality beside the metrics of its training run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

EXPERIMENT = "fraudops-monitoring"
#: Tag names on the monitoring run (also what a search filters on).
TAG_MODEL_NAME = "model_name"
TAG_MODEL_VERSION = "model_version"
TAG_MODEL_ID = "model_id"
TAG_DECISION = "decision"


def metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """The run's figures as MLflow metrics (undefined ones are left out, not logged as NaN)."""
    perf = summary.get("performance") or {}
    offline = summary.get("champion_offline") or {}
    drift = summary.get("drift") or {}
    latency = summary.get("latency") or {}
    out = {
        "live_recall": perf.get("recall"),
        "live_precision": perf.get("precision"),
        "live_average_precision": perf.get("average_precision"),
        "n_labels": perf.get("n_labels"),
        "n_fraud_labels": perf.get("n_fraud_labels"),
        "n_predictions": summary.get("n_predictions"),
        "champion_recall": offline.get("recall"),
        "champion_precision": offline.get("precision"),
        "champion_average_precision": offline.get("average_precision"),
        "drift_share": drift.get("drift_share"),
        "score_distance": drift.get("score_distance"),
        "latency_p50_ms": latency.get("p50_ms"),
        "latency_p99_ms": latency.get("p99_ms"),
        "retrain": float(bool(summary.get("retrain"))),
        "drift_detected": float(bool(summary.get("drift_detected"))),
    }
    return {k: float(v) for k, v in out.items() if v is not None}


def champion_model_id(version: Any) -> str:
    """The logged model (``m-...``) behind a registered version, or ``""``.

    MLflow 3's SQLite store leaves ``ModelVersion.model_id`` empty for a version registered
    from ``models:/m-...`` (what :func:`fraudops.tracking.log_model` returns); its ``source``
    still names the logged model.
    """
    if version.model_id:
        return str(version.model_id)
    source = str(version.source or "")
    return source.removeprefix("models:/") if source.startswith("models:/m-") else ""


def log_run(summary: Mapping[str, Any], *, report_dir: str | None = None) -> dict[str, str]:
    """Log one monitoring run to MLflow.

    Args:
        summary: the run's summary (with ``champion_version``).
        report_dir: the run's report folder, recorded as a tag.

    Returns:
        ``run_id``, ``experiment_id`` and the ``model_id`` the metrics were linked to (empty
        when the champion's version has none: a model registered from a bare artifact path).
    """
    import mlflow

    from fraudops import registry, tracking

    experiment_id = tracking.setup(EXPERIMENT)
    version = str(summary.get("champion_version"))
    client = tracking.connect()
    model_id = champion_model_id(client.get_model_version(registry.MODEL_NAME, version))
    retrain = bool(summary.get("retrain"))
    tags = {
        TAG_MODEL_NAME: registry.MODEL_NAME,
        TAG_MODEL_VERSION: version,
        TAG_MODEL_ID: model_id,
        TAG_DECISION: "retrain" if retrain else "ok",
        "served_version": str(summary.get("model_version")),
        "mlflow.note.content": "\n".join(
            [
                f"**{'Retrain' if retrain else 'No retraining needed'}**",
                "",
                *[f"- {r}" for r in summary.get("reasons", [])],
            ]
        ),
    }
    if report_dir:
        tags["report_dir"] = report_dir
    figures = metrics(summary)
    live = {k: v for k, v in figures.items() if k.startswith("live_")}
    name = f"monitor v{version} {summary.get('time', '')}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
        mlflow.log_params({f"monitor.{k}": v for k, v in (summary.get("params") or {}).items()})
        mlflow.log_metrics(figures)
        if model_id and live:
            mlflow.log_metrics(live, model_id=model_id)
        mlflow.log_text(json.dumps(summary, indent=2, default=str), "summary.json")
    return {"run_id": run.info.run_id, "experiment_id": experiment_id, "model_id": model_id}
