"""Stage ``train_automl``: the AutoML candidate.

FLAML searches several estimator families and their hyper-parameters within the compute
budget the custom search gets too (section ``budget``: seconds, trials, folds), with the same
metric (average precision) and the same kind of stratified cross-validation as
the custom candidate; :func:`fraudops.automl.fit_automl` wraps its choice in a pipeline with the
same feature preprocessing. The threshold is chosen on the validation part and the run is
recorded exactly like the custom one, so ``evaluate`` compares like with like.

    python -m level1.stages.train_automl --raw data/raw/transactions.parquet \
        --train data/split/train.parquet --valid data/split/valid.parquet \
        --model models/automl.joblib --report reports/train_automl.json
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass

import pandas as pd
from fraudops.budget import Budget
from fraudops.params import ParamsError

from .common import plain
from .training import Trained, train_stage_main


@dataclass(frozen=True)
class TrainAutomlParams:
    """Section ``train_automl`` of ``params.yaml``.

    Attributes:
        estimator_list: FLAML estimator names, e.g. ``lgbm``, ``rf``, ``extra_tree``, ``lrl1``.
        seed: FLAML's seed.

    The seconds, trials and folds are not here: they are the ``budget`` section, which the
    custom stage reads too.
    """

    estimator_list: list[str]
    seed: int

    def __post_init__(self) -> None:
        if not self.estimator_list:
            raise ParamsError("params.yaml section 'train_automl': estimator_list is empty")


def fit(
    train: pd.DataFrame, params: TrainAutomlParams, budget: Budget, *, progress: bool = False
) -> Trained:
    """Run FLAML on ``train`` within ``budget`` and return its best pipeline, refitted on all
    of ``train`` (``progress``: FLAML's line per trial)."""
    from fraudops.automl import fit_automl
    from fraudops.budget import Spent

    start = time.perf_counter()
    model, info = fit_automl(
        train,
        time_budget=budget.seconds,
        max_iter=budget.trials,
        estimator_list=list(params.estimator_list),
        seed=params.seed,
        metric="ap",
        n_splits=budget.cv_folds,
        verbose=3 if progress else 0,
    )
    seconds = time.perf_counter() - start
    trials = int(info["n_trials"])
    return Trained(
        candidate="automl",
        model=model,
        params={
            f"train_automl.{k}": ",".join(v) if isinstance(v, list) else v
            for k, v in asdict(params).items()
        },
        # FLAML minimises 1 - AP; best_score is the best trial's cross-validated AP.
        cv_average_precision=float(info["best_score"]),
        train_seconds=seconds,
        details={
            "estimator": str(info["best_estimator"]),
            "model_class": str(info["model_class"]),
            "best_params": {k: plain(v) for k, v in dict(info["best_config"]).items()},
            "best_score_per_estimator": dict(info["best_score_per_estimator"]),
            "n_trials": int(info["n_trials"]),
            "search_seconds": float(info["search_time"]),
            "refit_seconds": float(info["refit_time"]),
        },
        # FLAML's own fit (its search and, within the budget, its refit of the best
        # configuration) is what the budget limits; the pipeline's refit comes on top.
        budget=budget,
        spent=Spent(
            seconds=float(info["search_time"]),
            trials=trials,
            fits=trials * budget.cv_folds,
            refit_seconds=float(info["refit_time"]),
            stopped_by="trials" if trials >= budget.trials else "seconds",
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Fit and record the candidate from the command line (see the module docstring)."""
    return train_stage_main(
        argv,
        description=__doc__.split("\n\n")[0],
        section="train_automl",
        params_cls=TrainAutomlParams,
        fit=fit,
        announce=lambda p, b, n: (
            f"FLAML over {', '.join(p.estimator_list)} on {n:,} rows, "
            f"{b.trials} trials x {b.cv_folds}-fold stratified CV or {b.seconds:g}s"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
