"""The synthetic generator: schema, determinism, scenarios and argument checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fraudops.data import generate
from fraudops.schema import COLUMNS, DAY_SECONDS, V_COLUMNS
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def test_exact_schema_and_dtypes():
    df = generate(rows=5_000, seed=0)
    assert list(df.columns) == list(COLUMNS)
    assert (df.dtypes.drop("Class") == np.float64).all()
    assert df["Class"].dtype == np.int64
    assert len(df) == 5_000


def test_same_seed_same_rows_other_seed_other_rows():
    a, b = generate(rows=3_000, seed=11), generate(rows=3_000, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert not generate(rows=3_000, seed=12)["V1"].equals(a["V1"])


@pytest.mark.parametrize(
    ("rows", "rate", "frauds"), [(284_807, 492 / 284_807, 492), (1_000, 0.01, 10), (10, 0.05, 0)]
)
def test_fraud_count_is_exact(rows, rate, frauds):
    assert int(generate(rows=rows, seed=0, fraud_rate=rate)["Class"].sum()) == frauds


def test_time_sorted_within_two_days_and_amounts_non_negative():
    df = generate(rows=20_000, seed=1)
    assert df["Time"].is_monotonic_increasing
    assert df["Time"].between(0, 2 * DAY_SECONDS).all()
    assert (df["Amount"] >= 0).all()
    assert np.isfinite(df[list(V_COLUMNS)].to_numpy()).all()


def test_start_time_continues_the_clock():
    df = generate(rows=5_000, seed=2, start_time=172_800.0)
    assert df["Time"].min() >= 172_800
    assert df["Time"].max() <= 172_800 + 2 * DAY_SECONDS
    hours = (df["Time"] % DAY_SECONDS) // 3_600
    # The day/night cycle follows the wall clock, wherever the stream starts.
    assert (hours.between(1, 6)).mean() < 0.5 * 6 / 24


def test_legit_volume_drops_at_night_frauds_do_not():
    df = generate(rows=100_000, seed=3, fraud_rate=0.02)
    night = ((df["Time"] % DAY_SECONDS) // 3_600).between(1, 6)
    legit_night = night[df["Class"] == 0].mean() / (6 / 24)
    fraud_night = night[df["Class"] == 1].mean() / (6 / 24)
    assert legit_night < 0.4  # about 5x fewer per hour than average
    assert fraud_night > 2 * legit_night


def test_covariate_scenario_moves_legit_traffic():
    base = generate(rows=20_000, seed=4)
    shifted = generate(rows=20_000, seed=4, scenario="covariate")
    legit_b, legit_s = base[base["Class"] == 0], shifted[shifted["Class"] == 0]
    assert legit_s["Amount"].mean() > 1.4 * legit_b["Amount"].mean()
    moved = [
        c
        for c in V_COLUMNS
        if abs(legit_s[c].median() - legit_b[c].median()) > 0.2 * legit_b[c].std()
    ]
    assert len(moved) >= 8


def _fit(df: pd.DataFrame):
    x = df.drop(columns=["Class", "Time"]).assign(Amount=lambda d: np.log1p(d["Amount"]))
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000)).fit(x, df["Class"])


def _recall(model, df: pd.DataFrame, threshold: float) -> float:
    frauds = df[df["Class"] == 1]
    x = frauds.drop(columns=["Class", "Time"]).assign(Amount=lambda d: np.log1p(d["Amount"]))
    return float((model.predict_proba(x)[:, 1] >= threshold).mean())


def test_concept_scenario_is_missed_by_the_old_model_and_learnable():
    train = generate(rows=40_000, seed=5, fraud_rate=0.01)
    model = _fit(train)
    normal = generate(rows=40_000, seed=6, fraud_rate=0.01)
    concept = generate(rows=40_000, seed=6, fraud_rate=0.01, scenario="concept")
    assert _recall(model, normal, 0.5) > 0.6
    assert _recall(model, concept, 0.5) < 0.5 * _recall(model, normal, 0.5)
    # Labeled examples of the new pattern make it learnable again.
    retrained = _fit(
        pd.concat([train, generate(rows=40_000, seed=7, fraud_rate=0.01, scenario="concept")])
    )
    assert _recall(retrained, concept, 0.5) > 0.6


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rows": 0}, "rows"),
        ({"fraud_rate": 1.5}, "fraud_rate"),
        ({"scenario": "storm"}, "scenario"),
        ({"start_time": -1.0}, "start_time"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate(**{"rows": 100, **kwargs})
