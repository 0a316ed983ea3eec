"""Choosing the operating threshold: the score above which a transaction is flagged.

A fraud model outputs a score; the business acts on a yes/no. The threshold is chosen on the
*validation* scores (never on the test set, which would make the reported precision and recall
optimistic) and travels with the model: a transaction is flagged when ``score >= threshold``.

Two rules:

* ``"best_f1"``: the threshold with the best F1, a balance of missed fraud and false alarms.
* ``"min_precision"``: the highest recall whose precision is at least ``min_precision``, for a
  team that can review only so many false alarms per true fraud.

Either rule lands exactly on a validation score: the lowest-scored fraud it still catches.
Scores move a little between model versions, runtimes and days, and a threshold that sits on a
score flips that row at the smallest shift; where scores are dense (a model whose frauds score
1e-4) a 1 % shift flips many rows at once. ``margin`` moves the threshold off the scores:
:func:`stable_threshold` puts it in a gap between validation scores, wide enough that shifting
every score by ``margin`` (relative) changes no validation decision, without losing the rule's
recall or going below its precision floor.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import precision_recall_curve

STRATEGIES = ("best_f1", "min_precision")


def operating_points(
    y_true: ArrayLike, scores: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 for every candidate threshold (each distinct score).

    Unlike :func:`sklearn.metrics.precision_recall_curve`, the three arrays have one entry per
    threshold (its extra "recall 0, precision 1" end point, which has no threshold, is left off).

    Returns:
        ``(thresholds, precision, recall)``, thresholds increasing.

    Raises:
        ValueError: ``y_true`` holds no fraud, so no threshold can be judged.
    """
    y = np.asarray(y_true)
    if not (y == 1).any():
        raise ValueError("cannot choose a threshold: y_true holds no fraud (no 1 label)")
    precision, recall, thresholds = precision_recall_curve(y, scores, sample_weight=sample_weight)
    return thresholds, precision[:-1], recall[:-1]


def f1_from(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """Element-wise F1, 0 where precision and recall are both 0."""
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)


def best_recall_index(
    precision: np.ndarray, recall: np.ndarray, min_precision: float
) -> int | None:
    """Index of the highest recall with ``precision >= min_precision`` (None when unreachable).

    Among thresholds with the same recall the highest one wins: same catch, fewer alerts.
    """
    eligible = np.flatnonzero(precision >= min_precision)
    if eligible.size == 0:
        return None
    best = recall[eligible].max()
    return int(eligible[recall[eligible] == best].max())


def choose_threshold(
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    strategy: str = "best_f1",
    min_precision: float = 0.8,
    sample_weight: ArrayLike | None = None,
    margin: float = 0.0,
) -> float:
    """Pick the operating threshold from validation labels and scores.

    Args:
        y_true: 0/1 labels of the validation rows.
        scores: the model's fraud scores for the same rows.
        strategy: ``"best_f1"`` or ``"min_precision"`` (see the module docstring).
        min_precision: the precision floor of ``"min_precision"``.
        sample_weight: row weights (e.g. legitimate rows of a subsample standing for many);
            precision, recall and F1 are then weighted.
        margin: 0 keeps the threshold on a score (one of ``scores``); above 0, it is moved
            into a gap between scores by :func:`stable_threshold` (0.01: decisions survive a
            1 % shift of every score).

    Returns:
        The threshold: flag a transaction when ``score >= threshold``.

    Raises:
        ValueError: unknown strategy, or no fraud in ``y_true``.

    Warns:
        UserWarning: no threshold reaches ``min_precision``; the best-F1 threshold is returned.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown threshold strategy {strategy!r}; choose from {STRATEGIES}")
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    thresholds, precision, recall = operating_points(y_true, scores, sample_weight=sample_weight)
    floor = 0.0
    index = None
    if strategy == "min_precision":
        index = best_recall_index(precision, recall, min_precision)
        floor = min_precision
    if index is None:
        index = _best_f1_index(precision, recall, strategy, min_precision)
        floor = float(precision[index])  # best F1 at this recall: keep its precision
    if margin == 0.0:
        return float(thresholds[index])
    return stable_threshold(
        y_true,
        scores,
        float(thresholds[index]),
        margin=margin,
        min_precision=floor,
        sample_weight=sample_weight,
    )


def _best_f1_index(
    precision: np.ndarray, recall: np.ndarray, strategy: str, min_precision: float
) -> int:
    if strategy == "min_precision":
        warnings.warn(
            f"no threshold reaches precision >= {min_precision} on these scores (best precision "
            f"{precision.max():.3f}); falling back to the best-F1 threshold",
            UserWarning,
            stacklevel=3,
        )
    f1 = f1_from(precision, recall)
    # On ties, the highest threshold: the same F1 with fewer alerts to review.
    return len(f1) - 1 - int(np.argmax(f1[::-1]))


def stable_threshold(
    y_true: ArrayLike,
    scores: ArrayLike,
    chosen: float,
    *,
    margin: float,
    min_precision: float = 0.0,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Move a threshold that sits on a score into a gap where small score shifts change nothing.

    Every threshold in the gap between two consecutive distinct scores makes the same
    decisions. Starting at the gap just below ``chosen`` (the same decisions as ``chosen``
    itself) and going down, a gap is acceptable while it keeps the recall of ``chosen`` (no
    fraud is gained or lost: only legitimate rows are added) and a precision of at least
    ``min_precision``. The first acceptable gap whose ends are at least a factor
    ``1 / (1 - margin)**2`` apart is taken, and the threshold is its geometric midpoint: every
    score multiplied by anything within ``1 ± margin`` then stays on its side. If no gap is
    that wide, the widest acceptable one is taken.

    Args:
        y_true: 0/1 validation labels.
        scores: the validation scores (non-negative, as probabilities are).
        chosen: a threshold that is one of ``scores`` (:func:`choose_threshold` with margin 0).
        margin: the relative shift of every score the decisions must survive (0.01 = 1 %).
        min_precision: the precision no gap may fall below.
        sample_weight: row weights for precision and recall.

    Returns:
        The threshold, strictly between two scores (below the lowest score only when
        ``chosen`` is the lowest score).
    """
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    w = np.ones(len(s)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    distinct = np.unique(s)[::-1]  # highest first
    group = np.searchsorted(-distinct, -s)  # each row's position in ``distinct``
    fraud = np.bincount(group, weights=w * (y == 1), minlength=len(distinct)).cumsum()
    flagged = np.bincount(group, weights=w, minlength=len(distinct)).cumsum()
    precision = np.divide(fraud, flagged, out=np.zeros_like(fraud), where=flagged > 0)
    start = int(np.searchsorted(-distinct, -chosen))
    need = 1.0 / (1.0 - margin) ** 2
    best, best_ratio = None, 0.0
    for j in range(start, len(distinct)):
        if fraud[j] != fraud[start] or precision[j] < min_precision:
            break
        upper = distinct[j]
        lower = distinct[j + 1] if j + 1 < len(distinct) else 0.0
        ratio = upper / lower if lower > 0 else np.inf
        if ratio >= need:
            best = j
            break
        if ratio > best_ratio:
            best, best_ratio = j, ratio
    if best is None:  # chosen is not one of the scores: nothing to move
        return float(chosen)
    upper = distinct[best]
    lower = distinct[best + 1] if best + 1 < len(distinct) else upper * (1.0 - margin) ** 2
    return float(np.sqrt(upper * lower)) if lower > 0 else float(upper * (1.0 - margin))


def threshold_spread(
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    folds: int = 5,
    seed: int = 0,
    **choose: Any,
) -> dict[str, float]:
    """How much the chosen threshold depends on which validation rows it was chosen on.

    The validation rows are cut into ``folds`` stratified folds; the threshold is chosen again
    (:func:`choose_threshold` with the same ``choose`` settings) on each set of ``folds - 1``
    of them. A wide spread means the validation part holds too few frauds to place it well.

    Args:
        y_true: 0/1 validation labels.
        scores: the validation scores.
        folds: how many folds (each needs at least one fraud outside it).
        seed: seed of the folds.
        **choose: ``strategy``, ``min_precision``, ``margin``, ``sample_weight``...

    Returns:
        ``min``, ``median`` and ``max`` of the fold thresholds, and ``folds``.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    weight = choose.pop("sample_weight", None)
    found = []
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a fold's fallback to best F1 is fine here
        for keep, _ in cv.split(s.reshape(-1, 1), y):
            w = None if weight is None else np.asarray(weight)[keep]
            found.append(choose_threshold(y[keep], s[keep], sample_weight=w, **choose))
    return {
        "min": float(np.min(found)),
        "median": float(np.median(found)),
        "max": float(np.max(found)),
        "folds": folds,
    }
