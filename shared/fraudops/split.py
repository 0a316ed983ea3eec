"""Splitting transactions for training and evaluation.

Fraud models are trained on the past and used on the future, so the holdouts are the *newest*
rows (:func:`time_split`), never a random sample: a random split lets the model see
tomorrow's fraud ring while it is "predicting" today. Between the parts a gap of rows is
dropped: labels arrive late (a chargeback takes time), so the transactions of the last hour
before a cut are not yet labelled when the model is trained.

Cross-validation inside the training part (hyper-parameter search) uses
:func:`stratified_cv`, which keeps the few frauds spread evenly over the folds.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
from sklearn.model_selection import StratifiedKFold

from .schema import FEATURES, TARGET, TIME


class Split(NamedTuple):
    """Training, validation (threshold, early choices) and test (final report) rows."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def time_split(
    df: pd.DataFrame,
    *,
    valid_fraction: float = 0.15,
    test_fraction: float = 0.15,
    gap_seconds: float = 3600.0,
    strict: bool = True,
) -> Split:
    """Cut transactions by time into train, valid and test, with a label-delay gap.

    Rows are sorted by ``Time``. The first ``1 - valid_fraction - test_fraction`` of the rows
    are training rows, then validation, then test (row fractions, so the parts keep their
    share however traffic varies over the day). Rows whose ``Time`` falls within
    ``gap_seconds`` after each cut are dropped. Rows with the same ``Time`` always land in
    the same part, so no training transaction is newer than a validation one.

    Args:
        df: transactions with at least the ``Time`` and ``Class`` columns.
        valid_fraction: share of rows in the validation part (before the gap is dropped).
        test_fraction: share of rows in the test part (before the gap is dropped).
        gap_seconds: seconds dropped after each cut: the label delay.
        strict: refuse an empty part or a part without fraud (the default). ``False`` is for
            a source that only adds to the parts of another one, such as labeled production
            data (:func:`level1.stages.split.split`): a few rows may leave a part empty.

    Returns:
        The three parts, each sorted by ``Time`` and keeping ``df``'s index, so a row can be
        traced back to its source.

    Raises:
        ValueError: a fraction or the gap is out of range, a column is missing, or a part would
            be empty or hold no fraud (``Class == 1``): such a part cannot train or measure a
            fraud model.
    """
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"time_split: {name} must be between 0 and 1, got {value}")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"time_split: valid_fraction + test_fraction must be below 1 to leave training rows, "
            f"got {valid_fraction} + {test_fraction}"
        )
    if gap_seconds < 0:
        raise ValueError(f"time_split: gap_seconds must be >= 0, got {gap_seconds}")
    missing = [c for c in (TIME, TARGET) if c not in df.columns]
    if missing:
        raise ValueError(f"time_split: missing column(s) {missing}")

    ordered = df.sort_values(TIME, kind="stable")
    times = ordered[TIME].to_numpy()
    n = len(ordered)
    if n == 0:
        if strict:
            raise ValueError("time_split: no rows to split")
        return Split(train=ordered, valid=ordered, test=ordered)
    # The cuts are times (not row positions) so that equal times never straddle a cut.
    valid_start = times[min(int(round(n * (1.0 - valid_fraction - test_fraction))), n - 1)]
    test_start = times[min(int(round(n * (1.0 - test_fraction))), n - 1)]

    parts = Split(
        train=ordered[times < valid_start],
        valid=ordered[(times >= valid_start + gap_seconds) & (times < test_start)],
        test=ordered[times >= test_start + gap_seconds],
    )
    if not strict:
        return parts
    for name, part in parts._asdict().items():
        if part.empty:
            raise ValueError(
                f"time_split: the {name} part is empty ({n} rows, Time {times[0]:g}..{times[-1]:g}, "
                f"cuts at {valid_start:g} and {test_start:g}, gap {gap_seconds:g}s); "
                "use more rows, other fractions or a smaller gap"
            )
        if not (part[TARGET] == 1).any():
            raise ValueError(
                f"time_split: the {name} part ({len(part)} rows, Time {part[TIME].iloc[0]:g}.."
                f"{part[TIME].iloc[-1]:g}) has no fraud ({TARGET} == 1); a fraud model cannot be "
                "trained or measured on it: use more rows or larger fractions"
            )
    return parts


def stratified_cv(n_splits: int = 5, seed: int = 0) -> StratifiedKFold:
    """Shuffled, stratified K folds: every fold gets its share of the rare frauds."""
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def xy(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Split a frame into the model's input (the ``FEATURES`` columns, in order) and ``Class``.

    Raises:
        ValueError: a feature column or ``Class`` is missing (the error names them).
    """
    missing = [c for c in (*FEATURES, TARGET) if c not in df.columns]
    if missing:
        raise ValueError(f"xy: missing column(s) {missing}")
    return df[list(FEATURES)], df[TARGET].astype("int64")
