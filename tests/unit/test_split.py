"""Splitting: time order, the label-delay gap, part sizes and the errors a user meets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fraudops.schema import FEATURES, TARGET, TIME
from fraudops.split import Split, stratified_cv, time_split, xy


def frame(rows: int = 4_000, fraud_every: int = 50, seed: int = 0) -> pd.DataFrame:
    """Rows over two days in random order (shuffled on purpose), one fraud every few rows."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=list(FEATURES))
    df[TIME] = np.round(rng.uniform(0, 172_800, rows))  # whole seconds, so some times repeat
    df[TARGET] = (np.arange(rows) % fraud_every == 0).astype("int64")
    return df.sample(frac=1.0, random_state=seed)


def test_parts_follow_each_other_in_time_with_the_gap():
    parts = time_split(frame(), gap_seconds=3_600)
    assert parts.train[TIME].max() < parts.valid[TIME].min()
    assert parts.valid[TIME].max() < parts.test[TIME].min()
    assert parts.valid[TIME].min() - parts.train[TIME].max() >= 3_600
    assert parts.test[TIME].min() - parts.valid[TIME].max() >= 3_600
    for part in parts:
        assert part[TIME].is_monotonic_increasing


def test_only_the_gap_rows_are_dropped():
    df = frame()
    parts = time_split(df, gap_seconds=3_600)
    kept = pd.concat(parts)
    assert kept.index.is_unique  # no row in two parts
    dropped = df.drop(index=kept.index)[TIME]
    # Every dropped row lies between two parts, and within each gap they span under an hour.
    gaps = [
        (parts.train[TIME].max(), parts.valid[TIME].min()),
        (parts.valid[TIME].max(), parts.test[TIME].min()),
    ]
    for low, high in gaps:
        in_gap = dropped[(dropped > low) & (dropped < high)]
        assert len(in_gap) > 0 and in_gap.max() - in_gap.min() < 3_600
    assert sum(((dropped > low) & (dropped < high)).sum() for low, high in gaps) == len(dropped)
    assert 0 < len(dropped) < 0.05 * len(df)  # two hours out of 48


def test_without_gap_every_row_is_kept_and_sizes_follow_the_fractions():
    df = frame()
    parts = time_split(df, valid_fraction=0.2, test_fraction=0.1, gap_seconds=0)
    assert sum(len(p) for p in parts) == len(df)
    assert len(parts.train) / len(df) == pytest.approx(0.7, abs=0.01)
    assert len(parts.valid) / len(df) == pytest.approx(0.2, abs=0.01)
    assert len(parts.test) / len(df) == pytest.approx(0.1, abs=0.01)


def test_equal_times_never_straddle_a_cut():
    df = frame(rows=3_000)
    df[TIME] = (df[TIME] // 600) * 600  # ten-minute buckets: many rows per time
    parts = time_split(df, gap_seconds=0)
    assert not set(parts.train[TIME]) & set(parts.valid[TIME])
    assert not set(parts.valid[TIME]) & set(parts.test[TIME])


def test_rows_keep_their_index_and_values():
    df = frame()
    parts = time_split(df)
    assert isinstance(parts, Split)
    pd.testing.assert_frame_equal(
        parts.test, df.loc[parts.test.index].sort_values(TIME, kind="stable")
    )


def test_a_part_without_fraud_is_refused_with_its_name():
    df = frame().sort_values(TIME)
    df.loc[df.index[-len(df) // 10 :], TARGET] = 0  # the newest tenth holds no fraud
    with pytest.raises(ValueError, match="test part .* has no fraud"):
        time_split(df, test_fraction=0.05)


def test_a_gap_that_swallows_a_part_is_refused():
    with pytest.raises(ValueError, match="valid part is empty"):
        time_split(frame(), valid_fraction=0.05, gap_seconds=12 * 3600)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"valid_fraction": 0.0}, "valid_fraction"),
        ({"test_fraction": 1.2}, "test_fraction"),
        ({"valid_fraction": 0.5, "test_fraction": 0.5}, "below 1"),
        ({"gap_seconds": -1.0}, "gap_seconds"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        time_split(frame(), **kwargs)


def test_a_missing_time_column_is_named():
    with pytest.raises(ValueError, match="Time"):
        time_split(frame().drop(columns=TIME))


def test_stratified_cv_spreads_frauds_evenly_and_is_reproducible():
    df = frame(rows=1_000, fraud_every=20)  # 50 frauds
    X, y = xy(df)
    folds = list(stratified_cv(n_splits=5, seed=3).split(X, y))
    assert [int(y.iloc[test].sum()) for _, test in folds] == [10] * 5
    again = list(stratified_cv(n_splits=5, seed=3).split(X, y))
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again, strict=True))
    other = list(stratified_cv(n_splits=5, seed=4).split(X, y))
    assert any((a[1] != b[1]).any() for a, b in zip(folds, other, strict=True))


def test_xy_returns_features_in_schema_order_and_the_label():
    df = frame(rows=10)
    X, y = xy(df[list(reversed(df.columns))])
    assert list(X.columns) == list(FEATURES)
    assert y.name == TARGET and y.dtype == "int64"


def test_xy_names_missing_columns():
    with pytest.raises(ValueError, match=r"\['V3', 'Class'\]"):
        xy(frame(rows=10).drop(columns=["V3", TARGET]))


# -- labeled production data (the split stage) -------------------------------------------------


def test_feedback_is_split_on_its_own_so_most_of_it_is_trained_on():
    """After a concept drift the new fraud pattern must reach training: split with the base
    data, every feedback row (all newer) would land in the holdouts; split on its own, each
    part gets its share, the newest rows stay held out, and no labeled row is dropped."""
    from level1.stages.split import SplitParams, split

    params = SplitParams(valid_fraction=0.15, test_fraction=0.15, gap_seconds=3600)
    base = frame(rows=4_000)
    feedback = frame(rows=1_000, fraud_every=20, seed=1)
    feedback[TIME] += base[TIME].max() + 1.0

    together = time_split(pd.concat([base, feedback], ignore_index=True), gap_seconds=3600)
    assert (together.train[TIME] > base[TIME].max()).sum() == 0  # the problem

    parts = split(base, params, feedback)
    from_feedback = {name: part[part[TIME] > base[TIME].max()] for name, part in parts.items()}
    assert len(from_feedback["train"]) == 700
    assert len(from_feedback["valid"]) == len(from_feedback["test"]) == 150
    assert from_feedback["train"][TARGET].sum() >= 30  # the new frauds are trained on
    # Within the feedback, time order holds: train < valid < test.
    assert from_feedback["train"][TIME].max() < from_feedback["valid"][TIME].min()
    assert from_feedback["valid"][TIME].max() < from_feedback["test"][TIME].min()
    # The base data is split exactly as without feedback (gap included).
    alone = time_split(base, gap_seconds=3600)._asdict()
    for name, part in parts.items():
        assert len(part) - len(from_feedback[name]) == len(alone[name])
        assert part[TIME].is_monotonic_increasing


def test_empty_or_tiny_feedback_leaves_the_base_split_alone():
    from level1.stages.split import SplitParams, split

    params = SplitParams(valid_fraction=0.15, test_fraction=0.15, gap_seconds=0)
    base = frame()
    alone = split(base, params)
    for feedback in (base.iloc[:0], None):
        parts = split(base, params, feedback)
        assert {n: len(p) for n, p in parts.items()} == {n: len(p) for n, p in alone.items()}
    one = base.iloc[:1].copy()
    one[TIME] = base[TIME].max() + 10
    parts = split(base, params, one)
    assert sum(map(len, parts.values())) == sum(map(len, alone.values())) + 1
