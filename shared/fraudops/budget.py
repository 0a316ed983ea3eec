"""One compute budget for both ways of finding a model: the custom search and AutoML.

"Custom ML against AutoML" only means something when both sides get the same compute. A
:class:`Budget` is that compute: wall seconds, a number of configurations (trials), and the
stratified folds each configuration is scored on, so a trial is ``cv_folds`` model fits. The
seconds cover the search and the final fit of the best configuration on all the training rows,
as FLAML counts its ``time_budget``: a new trial starts only while the time left covers a trial
and the final fit (both estimated from the trials so far), so a search ends close to its
deadline, rarely past it by more than one trial's misestimate. Both sides stop at
whichever limit comes first. :class:`Spent` is what each side really used, so a report shows
that the comparison was fair.

:func:`random_search` is the custom side: scikit-learn's ``RandomizedSearchCV`` or
``GridSearchCV`` cannot stop on a clock, so this evaluates the same draws
(``ParameterSampler`` / ``ParameterGrid``) one at a time with ``cross_val_score``. FLAML takes
the same limits as ``time_budget`` and ``max_iter`` (:func:`fraudops.automl.fit_automl`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .params import ParamsError


@dataclass(frozen=True)
class Budget:
    """Section ``budget`` of ``params.yaml``: what each trainer may spend searching.

    Attributes:
        seconds: wall seconds of search and final fit (> 0); a trial started before the
            deadline finishes.
        trials: configurations tried at most (>= 1).
        cv_folds: stratified folds each configuration is scored on (>= 2), so a trial is
            ``cv_folds`` fits.
    """

    seconds: float
    trials: int
    cv_folds: int

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ParamsError(
                f"params.yaml section 'budget': seconds must be > 0, got {self.seconds}"
            )
        if self.trials < 1:
            raise ParamsError(
                f"params.yaml section 'budget': trials must be >= 1, got {self.trials}"
            )
        if self.cv_folds < 2:
            raise ParamsError(
                f"params.yaml section 'budget': cv_folds must be >= 2, got {self.cv_folds}"
            )

    def as_dict(self) -> dict[str, Any]:
        """The budget as plain values (reports, MLflow params)."""
        return asdict(self)


@dataclass(frozen=True)
class Spent:
    """What a search used of its :class:`Budget`.

    Attributes:
        seconds: wall seconds of the search and the final fit.
        trials: configurations scored.
        fits: model fits in the search (``trials * cv_folds``; the final fit excluded).
        refit_seconds: the final fit of the best configuration on all the training rows.
        stopped_by: ``"seconds"``, ``"trials"`` or ``"exhausted"`` (every configuration tried).
    """

    seconds: float
    trials: int
    fits: int
    refit_seconds: float
    stopped_by: str

    def as_dict(self) -> dict[str, Any]:
        """What was spent as plain values (reports)."""
        return {
            **asdict(self),
            "seconds": round(self.seconds, 2),
            "refit_seconds": round(self.refit_seconds, 2),
        }


@dataclass
class SearchResult:
    """The outcome of :func:`random_search`.

    Attributes:
        model: the best configuration, refitted on all the rows.
        best_params: its parameters.
        cv_average_precision: its mean cross-validated average precision.
        cv_average_precision_std: the spread of that score across folds.
        spent: what the search used.
    """

    model: Any
    best_params: dict[str, Any]
    cv_average_precision: float
    cv_average_precision_std: float
    spent: Spent


def configurations(
    space: Mapping[str, Sequence[Any]], *, search: str, trials: int, seed: int
) -> list[dict[str, Any]]:
    """The configurations a search tries, in order, at most ``trials`` of them.

    ``"random"`` draws ``trials`` distinct points of the grid (``ParameterSampler``, as
    ``RandomizedSearchCV`` does; the whole grid, shuffled, when it is smaller); ``"grid"``
    takes the grid in order, cut at ``trials``.
    """
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if search == "random":
        size = len(ParameterGrid(dict(space)))
        return list(ParameterSampler(dict(space), n_iter=min(trials, size), random_state=seed))
    if search == "grid":
        return list(ParameterGrid(dict(space)))[:trials]
    raise ValueError(f"unknown search {search!r}; choose 'random' or 'grid'")


def random_search(
    model: Any,
    space: Mapping[str, Sequence[Any]],
    X: pd.DataFrame,
    y: pd.Series,
    *,
    budget: Budget,
    search: str = "random",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> SearchResult:
    """Score configurations of ``model`` by stratified CV within ``budget``, refit the best.

    Args:
        model: an unfitted estimator or pipeline; configurations are set with ``set_params``.
        space: parameter name -> values (:func:`fraudops.models.search_space`).
        X: training features.
        y: training labels (0/1).
        budget: the limits; no new trial starts once ``budget.trials`` are done or the time
            left is less than a trial (the mean so far) and the final fit of the best one.
        search: ``"random"`` or ``"grid"`` (:func:`configurations`).
        seed: seed of the draws and of the folds.
        progress: called with one line per trial (configuration, score, seconds).

    Returns:
        The refitted best configuration, its CV average precision and what was spent.
    """
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    from .split import stratified_cv

    candidates = configurations(space, search=search, trials=budget.trials, seed=seed)
    cv = stratified_cv(n_splits=budget.cv_folds, seed=seed)
    start = time.perf_counter()
    best: tuple[float, float, dict[str, Any]] | None = None
    tried, fit_seconds = 0, 0.0
    best_took = 0.0  # the best configuration's trial time: its final fit costs about as much
    stopped_by = "exhausted" if len(candidates) < budget.trials else "trials"
    for config in candidates:
        if tried:
            # A new trial must leave time for itself (the mean so far) and for the final fit of
            # the best configuration: its cv_folds fold fits each saw (k-1)/k of the rows, so
            # one fit on all of them takes about its trial time / (k - 1).
            needed = fit_seconds / tried + best_took / (budget.cv_folds - 1)
            if time.perf_counter() - start + needed > budget.seconds:
                stopped_by = "seconds"
                break
        began = time.perf_counter()
        scores = cross_val_score(
            clone(model).set_params(**config),
            X,
            y,
            cv=cv,
            scoring="average_precision",
            error_score="raise",
        )
        took = time.perf_counter() - began
        tried, fit_seconds = tried + 1, fit_seconds + took
        mean, std = float(np.mean(scores)), float(np.std(scores))
        if best is None or mean > best[0]:
            best, best_took = (mean, std, config), took
        if progress is not None:
            progress(
                f"  trial {tried}/{len(candidates)}: {config} CV AP {mean:.4f} ± {std:.4f} ({took:.1f}s)"
            )
    assert best is not None  # the first trial always runs
    refit_start = time.perf_counter()
    fitted = clone(model).set_params(**best[2]).fit(X, y)
    now = time.perf_counter()
    spent = Spent(
        seconds=now - start,
        trials=tried,
        fits=tried * budget.cv_folds,
        refit_seconds=now - refit_start,
        stopped_by=stopped_by,
    )
    return SearchResult(
        model=fitted,
        best_params=dict(best[2]),
        cv_average_precision=best[0],
        cv_average_precision_std=best[1],
        spent=spent,
    )


def check_equal(budgets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The one budget every candidate was given; fails when they differ.

    Args:
        budgets: candidate name -> the budget its report records.

    Returns:
        The common budget.

    Raises:
        ValueError: a candidate records no budget, or two candidates were given different
            budgets (both are named with their values), so no winner may be declared.
    """
    missing = [name for name, budget in budgets.items() if not budget]
    if missing:
        raise ValueError(
            f"no budget recorded for {missing}: retrain them (dvc repro) so the comparison is fair"
        )
    values = {name: dict(budget) for name, budget in budgets.items()}
    first_name, first = next(iter(values.items()))
    for name, budget in values.items():
        if budget != first:
            raise ValueError(
                f"unequal budgets, no fair comparison: {first_name} was given {first}, "
                f"{name} {budget}; both trainers read params.yaml section 'budget'"
            )
    return first
