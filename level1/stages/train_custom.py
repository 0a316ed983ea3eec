"""Stage ``train_custom``: the hand-built candidate.

An ``imblearn`` pipeline (features, imbalance handling, estimator) from
:func:`fraudops.models.make_model`, tuned by grid or random search over
:func:`fraudops.models.search_space` with stratified cross-validation scored by average
precision, within the compute budget that AutoML gets too (section ``budget``,
:func:`fraudops.budget.random_search`). Resampling sits inside the pipeline, so SMOTE or undersampling only ever sees the
training folds. The operating threshold is chosen on the validation part; the run, the model
and the data lineage go to MLflow.

    python -m level1.stages.train_custom --raw data/raw/transactions.parquet \
        --train data/split/train.parquet --valid data/split/valid.parquet \
        --model models/custom.joblib --report reports/train_custom.json
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

SEARCHES = ("grid", "random")


@dataclass(frozen=True)
class TrainCustomParams:
    """Section ``train_custom`` of ``params.yaml``.

    Attributes:
        estimator: one of :data:`fraudops.models.ESTIMATORS`.
        imbalance: one of :data:`fraudops.models.IMBALANCE`.
        search: ``"grid"`` (the grid in order) or ``"random"`` (random draws), as many
            configurations as the budget allows.
        seed: seed of the model, the folds and the random search.

    The number of configurations, the folds and the seconds are not here: they are the
    ``budget`` section, which the AutoML stage reads too.
    """

    estimator: str
    imbalance: str
    search: str
    seed: int

    def __post_init__(self) -> None:
        from fraudops.models import ESTIMATORS, IMBALANCE

        for key, value, allowed in (
            ("estimator", self.estimator, ESTIMATORS),
            ("imbalance", self.imbalance, IMBALANCE),
            ("search", self.search, SEARCHES),
        ):
            if value not in allowed:
                raise ParamsError(
                    f"params.yaml section 'train_custom': {key} {value!r} is not one of "
                    f"{list(allowed)}"
                )


def fit(
    train: pd.DataFrame, params: TrainCustomParams, budget: Budget, *, progress: bool = False
) -> Trained:
    """Search the estimator's hyper-parameters within ``budget`` and refit the best on ``train``.

    Args:
        train: the training part (FEATURES and Class).
        params: the stage's section.
        budget: the ``budget`` section, shared with the AutoML stage.
        progress: a line per trial (parameters, CV score, seconds).

    Returns:
        The refitted best pipeline with its CV average precision, the search's findings and
        what it spent of the budget.
    """
    from fraudops.budget import random_search
    from fraudops.models import make_model, search_space
    from fraudops.split import xy

    x, y = xy(train)
    start = time.perf_counter()
    result = random_search(
        make_model(params.estimator, params.imbalance, seed=params.seed),
        search_space(params.estimator, params.imbalance),
        x,
        y,
        budget=budget,
        search=params.search,
        seed=params.seed,
        progress=(lambda line: print(line, flush=True)) if progress else None,
    )
    return Trained(
        candidate="custom",
        model=result.model,
        params={f"train_custom.{k}": v for k, v in asdict(params).items()},
        cv_average_precision=result.cv_average_precision,
        train_seconds=time.perf_counter() - start,
        details={
            "estimator": params.estimator,
            "best_params": {k: plain(v) for k, v in result.best_params.items()},
            "cv_average_precision_std": result.cv_average_precision_std,
            "configurations_tried": result.spent.trials,
        },
        budget=budget,
        spent=result.spent,
    )


def main(argv: list[str] | None = None) -> int:
    """Fit and record the candidate from the command line (see the module docstring)."""
    return train_stage_main(
        argv,
        description=__doc__.split("\n\n")[0],
        section="train_custom",
        params_cls=TrainCustomParams,
        fit=fit,
        announce=lambda p, b, n: (
            f"{p.search} search over {p.estimator} ({p.imbalance}) on {n:,} rows, "
            f"{b.trials} trials x {b.cv_folds}-fold stratified CV or {b.seconds:g}s"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
