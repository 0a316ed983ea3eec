"""Choosing the operating threshold: the score above which a transaction is flagged.

A fraud model outputs a score; the business acts on a yes/no. The threshold is chosen on the
*validation* scores (never on the test set, which would make the reported precision and recall
optimistic) and travels with the model: a transaction is flagged when ``score >= threshold``.

Two rules:

* ``"best_f1"``: the threshold with the best F1, a balance of missed fraud and false alarms.
* ``"min_precision"``: the highest recall whose precision is at least ``min_precision``, for a
  team that can review only so many false alarms per true fraud.
"""

from __future__ import annotations

import warnings

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
) -> float:
    """Pick the operating threshold from validation labels and scores.

    Args:
        y_true: 0/1 labels of the validation rows.
        scores: the model's fraud scores for the same rows.
        strategy: ``"best_f1"`` or ``"min_precision"`` (see the module docstring).
        min_precision: the precision floor of ``"min_precision"``.
        sample_weight: row weights (e.g. legitimate rows of a subsample standing for many);
            precision, recall and F1 are then weighted.

    Returns:
        The threshold: flag a transaction when ``score >= threshold``. It is one of ``scores``.

    Raises:
        ValueError: unknown strategy, or no fraud in ``y_true``.

    Warns:
        UserWarning: no threshold reaches ``min_precision``; the best-F1 threshold is returned.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown threshold strategy {strategy!r}; choose from {STRATEGIES}")
    thresholds, precision, recall = operating_points(y_true, scores, sample_weight=sample_weight)
    if strategy == "min_precision":
        index = best_recall_index(precision, recall, min_precision)
        if index is not None:
            return float(thresholds[index])
        warnings.warn(
            f"no threshold reaches precision >= {min_precision} on these scores (best precision "
            f"{precision.max():.3f}); falling back to the best-F1 threshold",
            UserWarning,
            stacklevel=2,
        )
    f1 = f1_from(precision, recall)
    # On ties, the highest threshold: the same F1 with fewer alerts to review.
    index = len(f1) - 1 - int(np.argmax(f1[::-1]))
    return float(thresholds[index])
