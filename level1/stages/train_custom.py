"""Stage ``train_custom``: the hand-built candidate.

An ``imblearn`` pipeline (features, imbalance handling, estimator) from
:func:`fraudops.models.make_model`, tuned by grid or random search over
:func:`fraudops.models.search_space` with stratified cross-validation scored by average
precision. Resampling sits inside the pipeline, so SMOTE or undersampling only ever sees the
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
from fraudops.params import ParamsError

from .common import Trained, plain, train_stage_main

SEARCHES = ("grid", "random")


@dataclass(frozen=True)
class TrainCustomParams:
    """Section ``train_custom`` of ``params.yaml``.

    Attributes:
        estimator: one of :data:`fraudops.models.ESTIMATORS`.
        imbalance: one of :data:`fraudops.models.IMBALANCE`.
        search: ``"grid"`` (every combination) or ``"random"`` (``n_iter`` draws).
        n_iter: configurations a random search tries.
        cv_folds: stratified folds per configuration.
        seed: seed of the model, the folds and the random search.
    """

    estimator: str
    imbalance: str
    search: str
    n_iter: int
    cv_folds: int
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
        if self.n_iter < 1 or self.cv_folds < 2:
            raise ParamsError(
                "params.yaml section 'train_custom': n_iter must be >= 1 and cv_folds >= 2, "
                f"got {self.n_iter} and {self.cv_folds}"
            )


def fit(train: pd.DataFrame, params: TrainCustomParams, *, progress: bool = False) -> Trained:
    """Search the estimator's hyper-parameters with stratified CV and refit the best on ``train``.

    Args:
        train: the training part (FEATURES and Class).
        params: the stage's section.
        progress: scikit-learn's line per fit (fold, parameters, score, time); otherwise only
            its summary line (how many candidates and folds).

    Returns:
        The refitted best pipeline with its CV average precision and the search's findings.
    """
    from fraudops.models import make_model, search_space
    from fraudops.split import stratified_cv, xy
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    model = make_model(params.estimator, params.imbalance, seed=params.seed)
    space = search_space(params.estimator, params.imbalance)
    common = {
        "scoring": "average_precision",
        "cv": stratified_cv(n_splits=params.cv_folds, seed=params.seed),
        "refit": True,
        "error_score": "raise",
        "verbose": 3 if progress else 1,
    }
    if params.search == "grid":
        search = GridSearchCV(model, space, **common)
    else:
        search = RandomizedSearchCV(
            model, space, n_iter=params.n_iter, random_state=params.seed, **common
        )
    x, y = xy(train)
    start = time.perf_counter()
    search.fit(x, y)
    seconds = time.perf_counter() - start
    best = search.best_index_
    return Trained(
        candidate="custom",
        model=search.best_estimator_,
        params={f"train_custom.{k}": v for k, v in asdict(params).items()},
        cv_average_precision=float(search.best_score_),
        train_seconds=seconds,
        details={
            "estimator": params.estimator,
            "best_params": {k: plain(v) for k, v in search.best_params_.items()},
            "cv_average_precision_std": float(search.cv_results_["std_test_score"][best]),
            "configurations_tried": len(search.cv_results_["params"]),
        },
    )


def main(argv: list[str] | None = None) -> int:
    """Fit and record the candidate from the command line (see the module docstring)."""
    return train_stage_main(
        argv,
        description=__doc__.split("\n\n")[0],
        section="train_custom",
        params_cls=TrainCustomParams,
        fit=fit,
        announce=lambda p, n: (
            f"{p.search} search over {p.estimator} ({p.imbalance}), "
            f"{p.cv_folds}-fold stratified CV on {n:,} rows"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
