"""AutoML: FLAML searches model families and hyper-parameters under a time budget.

The custom models (:mod:`fraudops.models`) fix the model family and search a small grid; here
FLAML tries several families (LightGBM, random forest, extra trees, L1 logistic regression) and
their hyper-parameters for a fixed number of seconds, scored by the same metric (average
precision) with stratified cross-validation, so the rare frauds land in every fold.

The result is deliberately *not* FLAML's own model object. :func:`fit_automl` takes FLAML's
choice (the estimator family and its hyper-parameters), clones that scikit-learn or LightGBM
estimator and fits it again, on all the training rows, inside a plain scikit-learn
``Pipeline([("features", make_preprocessor()), ("model", estimator)])``:

* the artefact pickles, logs through MLflow's sklearn flavour (skops) and serves without FLAML
  installed, exactly like a custom model;
* the pipeline sees raw ``FEATURES`` columns, so the serving code does not care which way
  the model was found;
* FLAML's internal data handling (it may drop constant columns, impute, re-label) cannot
  leak into the served model: the estimator is fitted on exactly what the preprocessor gives.

The price is one extra fit of the chosen configuration after the search.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import types
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from .features import make_preprocessor
from .schema import TARGET
from .split import xy

#: FLAML learners whose fitted model is a plain scikit-learn or LightGBM classifier
#: (``LGBMClassifier``, ``RandomForestClassifier``, ``ExtraTreesClassifier``,
#: ``LogisticRegression``), so the returned pipeline never needs FLAML to load.
ESTIMATORS: tuple[str, ...] = ("lgbm", "rf", "extra_tree", "lrl1", "lrl2")
DEFAULT_ESTIMATORS: tuple[str, ...] = ("lgbm", "rf", "extra_tree", "lrl1")
#: Metrics FLAML maximises (its loss is ``1 - metric``) that stay meaningful at 0.17 % fraud;
#: accuracy is not among them on purpose.
METRICS: tuple[str, ...] = ("ap", "roc_auc")
#: Threads per trial: the machines this runs on have 2 cores.
N_JOBS = 2


def fit_automl(
    train: pd.DataFrame,
    *,
    time_budget: float,
    max_iter: int | None = None,
    estimator_list: Sequence[str] = DEFAULT_ESTIMATORS,
    seed: int = 0,
    metric: str = "ap",
    n_splits: int = 3,
    verbose: int = 0,
) -> tuple[Pipeline, dict[str, Any]]:
    """Search models with FLAML, then refit the best one in a plain scikit-learn pipeline.

    FLAML's search stops after ``time_budget`` seconds; FLAML then refits its best
    configuration once and this function fits it once more inside the returned pipeline, so
    the wall time is the budget plus about two fits of the chosen model. Which model wins can
    depend on the machine's speed (a faster machine tries more configurations in the budget).

    Args:
        train: training transactions with the ``FEATURES`` columns and ``Class``.
        time_budget: seconds FLAML may spend searching (> 0); FLAML keeps time within it for
            its own refit of the best configuration.
        max_iter: trials (configurations) FLAML may try at most; ``None``: no limit but time.
        estimator_list: FLAML learner names to try, a subset of :data:`ESTIMATORS`.
        seed: seed of FLAML's search and of the final estimator.
        metric: what the search maximises, one of :data:`METRICS` (``"ap"``: average precision).
        n_splits: stratified cross-validation folds per trial (>= 2); the training data must
            hold at least this many frauds.
        verbose: FLAML's verbosity (3: a line per trial, 0: errors only).

    Returns:
        ``(pipeline, info)``. ``pipeline`` is a fitted ``sklearn.pipeline.Pipeline`` with the
        steps ``features`` and ``model``; its ``predict_proba`` takes a ``FEATURES`` DataFrame.
        ``info`` holds ``metric``; ``best_estimator`` (FLAML's learner name) and
        ``model_class``; ``best_config`` (FLAML's hyper-parameters); ``best_loss`` and
        ``best_score`` (``1 - best_loss``: the cross-validated ``metric`` of the best trial);
        ``best_score_per_estimator``; ``n_trials``; the seconds ``time_to_best``,
        ``search_time`` (FLAML's fit, including its own refit), ``refit_time`` and
        ``time_used`` (the whole call); and the arguments ``time_budget``, ``max_iter``,
        ``estimator_list``, ``n_splits``, ``seed``.

    Raises:
        ValueError: ``train`` is empty, misses a column, has labels other than 0/1, holds one
            class only or fewer rows of a class than ``n_splits``; or an argument is out of
            range (the message names it).
        RuntimeError: FLAML finished no trial within the budget.
    """
    estimators = _check_arguments(time_budget, estimator_list, metric, n_splits)
    if max_iter is not None and max_iter < 1:
        raise ValueError(f"fit_automl: max_iter must be >= 1 or None, got {max_iter}")
    X, y = xy(train)
    _check_labels(y, n_splits)

    automl = _automl_class()()  # before the clock starts: importing FLAML takes seconds
    start = time.perf_counter()
    # The search sees the features once transformed (every step is unsupervised: log, hour of
    # day, robust scaling), so the few seconds go to models, not to re-transforming each fold.
    with warnings.catch_warnings():
        # Short trials of the L1 logistic regression stop before saga converges, by design of
        # the search; the warning would repeat for every trial. The final refit still warns.
        warnings.simplefilter("ignore", ConvergenceWarning)
        automl.fit(
            make_preprocessor().fit_transform(X),
            y.to_numpy(),
            task="classification",
            metric=metric,
            estimator_list=list(estimators),
            time_budget=time_budget,
            max_iter=max_iter,
            eval_method="cv",
            split_type="stratified",
            n_splits=n_splits,
            n_jobs=N_JOBS,
            seed=seed,
            verbose=verbose,
            log_file_name="",
            # The Level 1 pipeline calls this inside an MLflow run: without this FLAML would log a
            # nested run per trial (and a model of its own) into the registry's store.
            mlflow_logging=False,
        )
    search_time = time.perf_counter() - start
    if automl.best_estimator is None or automl.model is None:
        raise RuntimeError(
            f"fit_automl: FLAML finished no trial within time_budget={time_budget}s "
            f"(estimators {list(estimators)}, {len(train)} rows); raise the budget"
        )

    refit_start = time.perf_counter()
    model = _fresh_estimator(automl.model.estimator, seed)
    pipeline = Pipeline([("features", make_preprocessor()), ("model", model)]).fit(X, y)
    now = time.perf_counter()

    info = {
        "metric": metric,
        "best_estimator": automl.best_estimator,
        "model_class": type(model).__name__,
        "best_config": _plain(automl.best_config),
        "best_loss": float(automl.best_loss),
        "best_score": 1.0 - float(automl.best_loss),
        "best_score_per_estimator": {
            name: 1.0 - float(loss)
            for name, loss in automl.best_loss_per_estimator.items()
            if np.isfinite(loss)  # an estimator that never finished a trial has loss inf
        },
        "n_trials": int(getattr(automl, "modelcount", 0)),
        "time_to_best": float(automl.time_to_find_best_model),
        "search_time": search_time,
        "refit_time": now - refit_start,
        "time_used": now - start,
        "time_budget": float(time_budget),
        "max_iter": max_iter,
        "estimator_list": list(estimators),
        "n_splits": n_splits,
        "seed": seed,
    }
    return pipeline, info


def _check_arguments(
    time_budget: float, estimator_list: Sequence[str], metric: str, n_splits: int
) -> tuple[str, ...]:
    """Fail fast, before any model is trained, on arguments FLAML would reject late or silently."""
    if not time_budget > 0:
        raise ValueError(f"fit_automl: time_budget must be > 0 seconds, got {time_budget}")
    if isinstance(estimator_list, str):  # "lgbm" would otherwise read as l, g, b, m
        estimator_list = (estimator_list,)
    estimators = tuple(estimator_list)
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if not estimators or unknown:
        raise ValueError(
            f"fit_automl: estimator_list must be a non-empty subset of {list(ESTIMATORS)}, "
            f"got {list(estimators)}"
        )
    if metric not in METRICS:
        raise ValueError(f"fit_automl: metric must be one of {list(METRICS)}, got {metric!r}")
    if n_splits < 2:
        raise ValueError(f"fit_automl: n_splits must be >= 2, got {n_splits}")
    return estimators


def _check_labels(y: pd.Series, n_splits: int) -> None:
    """Both classes, each with at least one row per cross-validation fold."""
    if y.empty:
        raise ValueError("fit_automl: train is empty (0 rows)")
    counts = y.value_counts()
    other = sorted(set(counts.index) - {0, 1})
    if other:
        raise ValueError(f"fit_automl: {TARGET} must be 0 or 1, found {other}")
    for label, name in ((1, "fraud"), (0, "legitimate")):
        found = int(counts.get(label, 0))
        if found == 0:
            raise ValueError(
                f"fit_automl: train has no {name} rows ({TARGET} == {label}) among its "
                f"{len(y)} rows; a fraud model needs both classes"
            )
        if found < n_splits:
            raise ValueError(
                f"fit_automl: train has {found} {name} row(s) ({TARGET} == {label}); stratified "
                f"{n_splits}-fold cross-validation needs at least {n_splits}"
            )


def _fresh_estimator(estimator: Any, seed: int) -> Any:
    """An unfitted copy of FLAML's chosen estimator with plain-Python hyper-parameters.

    FLAML hands hyper-parameters over as NumPy scalars (``np.float64``, ``np.str_``); plain
    values keep the logged parameters readable and the saved model free of needless types.
    The random state becomes ``seed`` so the caller, not FLAML, decides reproducibility.
    """
    fresh = clone(estimator)
    params = {
        k: v.item() for k, v in fresh.get_params(deep=False).items() if isinstance(v, np.generic)
    }
    if "random_state" in fresh.get_params(deep=False):
        params["random_state"] = seed
    return fresh.set_params(**params)


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """FLAML's config with NumPy scalars turned into Python values (for JSON and MLflow)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}


def _automl_class() -> type:
    """FLAML's ``AutoML`` class, imported when first needed (FLAML takes seconds to import).

    FLAML 2.7.0 imports ``xgboost`` unconditionally when its AutoML module loads
    (microsoft/FLAML#1355), although only its xgboost learners use it, and xgboost's default
    wheel pulls in about 800 MB of CUDA libraries. When xgboost is absent, a stand-in module
    is put in place for the duration of the import only: it carries a version string and
    placeholder classes that raise ``ImportError`` if anything ever instantiates them.
    :data:`ESTIMATORS` never names an xgboost learner, so nothing does. With xgboost (or the
    small ``xgboost-cpu`` wheel) installed, FLAML is imported as it is.
    """
    if importlib.util.find_spec("xgboost") is not None:
        from flaml.automl.automl import AutoML

        return AutoML

    class _NoXGBoost:
        """Placeholder for xgboost's estimators: xgboost is not installed."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError("xgboost is not installed; fraudops.automl does not use it")

        fit = predict = predict_proba = __init__

    stand_in = types.ModuleType("xgboost", "stand-in for FLAML's import; see fraudops.automl")
    stand_in.__version__ = "0.0.0"
    stand_in.XGBClassifier = stand_in.XGBRegressor = _NoXGBoost
    sys.modules["xgboost"] = stand_in
    try:
        from flaml.automl.automl import AutoML
    finally:
        # Whoever imports xgboost later must get the real ImportError, not the stand-in.
        if sys.modules.get("xgboost") is stand_in:
            del sys.modules["xgboost"]
    return AutoML
