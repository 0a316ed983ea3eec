"""What the stages share: JSON reports, the shared parameter sections, and one way of
finishing a training run (threshold on validation, MLflow run, model file, report), so that the
custom and the AutoML candidates are recorded identically and compared fairly.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from fraudops.params import ParamsError, load_section
from fraudops.step_progress import Steps

#: The two candidates the pipeline trains, in the order reports list them.
CANDIDATES = ("custom", "automl")


@dataclass(frozen=True)
class ThresholdParams:
    """Section ``threshold``: how both trainers choose the operating threshold on ``valid``."""

    strategy: str
    min_precision: float

    def __post_init__(self) -> None:
        from fraudops.thresholds import STRATEGIES

        if self.strategy not in STRATEGIES:
            raise ParamsError(
                f"params.yaml section 'threshold': strategy {self.strategy!r} is not one of "
                f"{list(STRATEGIES)}"
            )
        if not 0.0 < self.min_precision < 1.0:
            raise ParamsError(
                f"params.yaml section 'threshold': min_precision must be in (0, 1), "
                f"got {self.min_precision}"
            )


@dataclass(frozen=True)
class TrackingParams:
    """Section ``tracking``: the MLflow experiment the training runs go to."""

    experiment: str


def plain(value: Any) -> Any:
    """numpy scalars and arrays, and Paths, as plain Python values (JSON, MLflow params)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def _json_default(value: Any) -> Any:
    converted = plain(value)
    if converted is value:
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")
    return converted


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as indented JSON (parents created), so that git diffs stay readable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    return path


def read_json(path: str | Path) -> Any:
    """Read a JSON report written by an earlier stage."""
    return json.loads(Path(path).read_text())


def fraud_scores(model: Any, df: pd.DataFrame) -> np.ndarray:
    """P(fraud) for every row of ``df`` (only the feature columns are passed to the model)."""
    from fraudops.split import xy

    x, _ = xy(df)
    return model.predict_proba(x)[:, 1]


def pick_threshold(
    model: Any, valid: pd.DataFrame, params: ThresholdParams
) -> tuple[float, dict[str, Any]]:
    """Choose the operating threshold on the validation part and measure the model there.

    The test part is never looked at here: it is kept for the final comparison and the gate.

    Returns:
        The threshold and the validation metrics at that threshold.
    """
    from fraudops.metrics import evaluate
    from fraudops.split import xy
    from fraudops.thresholds import choose_threshold

    _, y = xy(valid)
    scores = fraud_scores(model, valid)
    threshold = float(
        choose_threshold(y, scores, strategy=params.strategy, min_precision=params.min_precision)
    )
    metrics = evaluate(y, scores, threshold, precision_target=params.min_precision)
    return threshold, metrics


@dataclass
class Trained:
    """A fitted candidate, before it is recorded.

    Attributes:
        candidate: ``"custom"`` or ``"automl"``.
        model: the fitted pipeline (predict_proba on FEATURES DataFrames).
        params: the settings that made it (logged as MLflow params).
        cv_average_precision: the search's cross-validated AP of the chosen configuration.
        train_seconds: wall time of the whole search and refit.
        details: what the search found (best parameters, configuration...).
    """

    candidate: str
    model: Any
    params: dict[str, Any]
    cv_average_precision: float
    train_seconds: float
    details: dict[str, Any]


def _numeric(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float | np.number) and not isinstance(v, bool)
    }


def record(
    trained: Trained,
    *,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    threshold_params: ThresholdParams,
    tracking_params: TrackingParams,
    paths: dict[str, Path],
    model_out: Path,
    report_out: Path,
) -> dict[str, Any]:
    """Choose the threshold, log the MLflow run, save the model file and the stage report.

    The run carries everything needed to trace the model back: the parameters, CV and
    validation metrics, the model (logged with its signature), the training and validation
    data as MLflow datasets, and the tags ``git_commit`` and ``data_md5`` (the DVC md5 of
    the raw data file, the same hash ``dvc.lock`` records).

    Args:
        trained: the fitted candidate.
        train: the rows it was fitted on (logged as the "train" dataset).
        valid: the rows the threshold is chosen on.
        threshold_params: the ``threshold`` section.
        tracking_params: the ``tracking`` section.
        paths: ``raw``, ``train`` and ``valid`` file paths (for lineage and dataset sources).
        model_out: where the fitted pipeline is written (joblib).
        report_out: where the stage report is written (JSON).

    Returns:
        The report that was written.
    """
    import mlflow
    from fraudops import tracking
    from fraudops.split import xy

    threshold, valid_metrics = pick_threshold(trained.model, valid, threshold_params)
    data_md5 = tracking.file_md5(paths["raw"])
    git_commit = tracking.git_commit() or "unknown"

    experiment_id = tracking.setup(tracking_params.experiment)
    estimator = trained.details.get("estimator", trained.candidate)
    with (
        Steps().step(f"log the {trained.candidate} run, its datasets and model to MLflow"),
        mlflow.start_run(
            experiment_id=experiment_id, run_name=f"{trained.candidate}-{estimator}"
        ) as run,
    ):
        mlflow.set_tags(
            {
                "candidate": trained.candidate,
                "stage": f"train_{trained.candidate}",
                "estimator": estimator,
                "git_commit": git_commit,
                "data_md5": data_md5,
                "data_path": str(paths["raw"]),
                "threshold": f"{threshold:.6g}",
            }
        )
        mlflow.log_params(
            {
                **trained.params,
                **{f"threshold.{k}": v for k, v in asdict(threshold_params).items()},
                **{f"best.{k}": v for k, v in trained.details.get("best_params", {}).items()},
            }
        )
        mlflow.log_metrics(
            {
                "cv_average_precision": trained.cv_average_precision,
                "train_seconds": trained.train_seconds,
                "threshold": threshold,
                **_numeric(valid_metrics, "valid_"),
            }
        )
        tracking.log_dataset(train, source=str(paths["train"]), name="train", context="training")
        tracking.log_dataset(valid, source=str(paths["valid"]), name="valid", context="validation")
        info = tracking.log_model(trained.model, X_example=xy(train)[0].head(5))
    print(f"  MLflow run {run.info.run_id}", flush=True)

    model_out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(trained.model, model_out)
    report = {
        "candidate": trained.candidate,
        "estimator": estimator,
        "run_id": run.info.run_id,
        "experiment_id": experiment_id,
        "model_uri": info.model_uri,
        "threshold": threshold,
        "cv_average_precision": trained.cv_average_precision,
        "train_seconds": trained.train_seconds,
        "valid": valid_metrics,
        "params": trained.params,
        "details": trained.details,
        "train_rows": len(train),
        "valid_rows": len(valid),
        "data_md5": data_md5,
        "git_commit": git_commit,
    }
    write_json(report_out, report)
    print(
        f"  {trained.candidate}: CV AP {trained.cv_average_precision:.4f}, "
        f"valid AP {valid_metrics['average_precision']:.4f}, threshold {threshold:.4f} "
        f"(precision {valid_metrics['precision']:.3f}, recall {valid_metrics['recall']:.3f})",
        flush=True,
    )
    return report


def train_stage_main(
    argv: list[str] | None,
    *,
    description: str,
    section: str,
    params_cls: type,
    fit: Callable[..., Trained],
    announce: Callable[[Any, int], str],
) -> int:
    """The command line shared by the two training stages (``train_custom``, ``train_automl``).

    Both read the same files, fit a candidate with their own ``fit`` and hand it to
    :func:`record`; only the params section and the progress line differ.

    Args:
        argv: command-line arguments (``None``: ``sys.argv``).
        description: the ``--help`` text.
        section: the stage's section of ``params.yaml``.
        params_cls: the dataclass that section loads into.
        fit: ``fit(train, params, progress=...) -> Trained``; ``progress`` asks for a line per
            fit or trial (on a terminal; in a log, as in CI, only the tool's summary lines).
        announce: the progress line printed before fitting, from the params and the row count.

    Returns:
        0 (errors raise and make DVC stop the pipeline).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--raw", type=Path, required=True, help="raw table (for its data md5)")
    parser.add_argument("--train", type=Path, required=True, help="training rows (.parquet)")
    parser.add_argument("--valid", type=Path, required=True, help="validation rows (.parquet)")
    parser.add_argument("--model", type=Path, required=True, help="fitted pipeline (.joblib)")
    parser.add_argument("--report", type=Path, required=True, help="stage report (.json)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)

    from fraudops.data import load

    params = load_section(params_cls, section, args.params)
    threshold = load_section(ThresholdParams, "threshold", args.params)
    tracking = load_section(TrackingParams, "tracking", args.params)
    train, valid = load(args.train), load(args.valid)
    print(f"{section}: {announce(params, len(train))}", flush=True)
    trained = fit(train, params, progress=Steps().live)
    chosen = trained.details.get("estimator", trained.candidate)
    print(
        f"{section}: chose {chosen} {trained.details.get('best_params', {})} "
        f"in {trained.train_seconds:.1f}s",
        flush=True,
    )
    record(
        trained,
        train=train,
        valid=valid,
        threshold_params=threshold,
        tracking_params=tracking,
        paths={"raw": args.raw, "train": args.train, "valid": args.valid},
        model_out=args.model,
        report_out=args.report,
    )
    return 0
