"""How both training stages finish: the threshold on validation, the MLflow run, the model file
and the report, so that the custom and the AutoML candidates are recorded identically and
compared fairly (the same ``budget``, ``threshold`` and ``tracking`` sections).

Only the two training stages import this module, so a change here reruns only them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from fraudops.budget import Budget, Spent
from fraudops.params import ParamsError, load_section
from fraudops.step_progress import Steps

from .common import fraud_scores, write_json


@dataclass(frozen=True)
class ThresholdParams:
    """Section ``threshold``: how both trainers choose the operating threshold on ``valid``.

    Attributes:
        strategy: ``"min_precision"`` or ``"best_f1"`` (:mod:`fraudops.thresholds`).
        min_precision: the precision floor of ``"min_precision"``.
        margin: the relative shift of every score that leaves every validation decision as it
            is (:func:`fraudops.thresholds.stable_threshold`); 0 puts the threshold on a score.
    """

    strategy: str
    min_precision: float
    margin: float = 0.0

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
        if not 0.0 <= self.margin < 0.5:
            raise ParamsError(
                f"params.yaml section 'threshold': margin must be in [0, 0.5), got {self.margin}"
            )


@dataclass(frozen=True)
class TrackingParams:
    """Section ``tracking``: the MLflow experiment the training runs go to."""

    experiment: str


def pick_threshold(
    model: Any, valid: pd.DataFrame, params: ThresholdParams
) -> tuple[float, dict[str, Any]]:
    """Choose the operating threshold on the validation part and measure the model there.

    The test part is never looked at here: it is kept for the final comparison and the gate.

    Returns:
        The threshold and the validation metrics at that threshold, with
        ``threshold_spread``: the threshold chosen again on five stratified subsets of the
        validation rows (min, median, max).
    """
    from fraudops.metrics import evaluate
    from fraudops.split import xy
    from fraudops.thresholds import choose_threshold, threshold_spread

    _, y = xy(valid)
    scores = fraud_scores(model, valid)
    rule = {"strategy": params.strategy, "min_precision": params.min_precision}
    threshold = float(choose_threshold(y, scores, margin=params.margin, **rule))
    metrics = evaluate(y, scores, threshold, precision_target=params.min_precision)
    metrics["threshold_spread"] = threshold_spread(y, scores, margin=params.margin, **rule)
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
        budget: the ``budget`` section both candidates were given.
        spent: what the search used of it (seconds, trials, fits).
    """

    candidate: str
    model: Any
    params: dict[str, Any]
    cv_average_precision: float
    train_seconds: float
    details: dict[str, Any]
    budget: Budget
    spent: Spent


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
    budget, spent = trained.budget, trained.spent.as_dict()
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
                **{f"budget.{k}": v for k, v in budget.as_dict().items()},
                **{f"threshold.{k}": v for k, v in asdict(threshold_params).items()},
                **{f"best.{k}": v for k, v in trained.details.get("best_params", {}).items()},
            }
        )
        mlflow.log_metrics(
            {
                "cv_average_precision": trained.cv_average_precision,
                "train_seconds": trained.train_seconds,
                **{f"spent_{k}": v for k, v in spent.items() if k != "stopped_by"},
                "threshold": threshold,
                **_numeric(valid_metrics, "valid_"),
                **{
                    f"threshold_spread_{k}": valid_metrics["threshold_spread"][k]
                    for k in ("min", "median", "max")
                },
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
        "budget": budget.as_dict(),
        "spent": spent,
        "train_rows": len(train),
        "valid_rows": len(valid),
        "data_md5": data_md5,
        "git_commit": git_commit,
    }
    write_json(report_out, report)
    spread = valid_metrics["threshold_spread"]
    print(
        f"  {trained.candidate}: CV AP {trained.cv_average_precision:.4f}, "
        f"valid AP {valid_metrics['average_precision']:.4f}, threshold {threshold:.4g} "
        f"(precision {valid_metrics['precision']:.3f}, recall {valid_metrics['recall']:.3f}; "
        f"chosen on 4/5 of the rows: {spread['min']:.4g} .. {spread['max']:.4g})",
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
        fit: ``fit(train, params, budget, progress=...) -> Trained``; ``progress`` asks for a
            line per trial (on a terminal; in a log, as in CI, only the tool's summary lines).
        announce: the progress line printed before fitting, from the params, the budget and
            the row count.

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
    budget = load_section(Budget, "budget", args.params)
    threshold = load_section(ThresholdParams, "threshold", args.params)
    tracking = load_section(TrackingParams, "tracking", args.params)
    train, valid = load(args.train), load(args.valid)
    print(f"{section}: {announce(params, budget, len(train))}", flush=True)
    trained = fit(train, params, budget, progress=Steps().live)
    chosen = trained.details.get("estimator", trained.candidate)
    spent = trained.spent
    print(
        f"{section}: chose {chosen} {trained.details.get('best_params', {})} after "
        f"{spent.trials} trials ({spent.fits} fits, stopped by {spent.stopped_by}) "
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
