"""fit_automl: FLAML's choice comes back as a plain, fitted scikit-learn pipeline that ranks frauds."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from fraudops.automl import fit_automl
from fraudops.schema import TARGET
from fraudops.split import time_split, xy
from sklearn.dummy import DummyClassifier
from sklearn.metrics import average_precision_score
from sklearn.pipeline import Pipeline

BUDGET = 10.0
#: FLAML refits its best model after the budget and fit_automl fits it once more; on a busy
#: 2-core machine that and FLAML's import take a while. Only a runaway search fails this.
SLACK = 60.0


def same_scores(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to float rounding: a forest with ``n_jobs=2`` adds its trees' votes in thread
    order, so even two calls on the same object can differ in the last bit."""
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def fitted(small_data: pd.DataFrame):
    """One 10-second search on the older 70 % of the small data; the newest rows are held out."""
    parts = time_split(small_data)
    start = time.perf_counter()
    pipeline, info = fit_automl(parts.train, time_budget=BUDGET, seed=0)
    return parts, pipeline, info, time.perf_counter() - start


def test_pipeline_ranks_held_out_frauds_far_better_than_chance(fitted) -> None:
    parts, pipeline, _, _ = fitted
    X_train, y_train = xy(parts.train)
    X_test, y_test = xy(parts.test)
    dummy = DummyClassifier(strategy="prior").fit(X_train, y_train)
    chance = average_precision_score(y_test, dummy.predict_proba(X_test)[:, 1])
    ap = average_precision_score(y_test, pipeline.predict_proba(X_test)[:, 1])
    assert ap > 10 * chance, f"AutoML AP {ap:.3f} vs chance {chance:.3f}"


def test_result_is_a_plain_sklearn_pipeline_without_flaml_objects(fitted) -> None:
    _, pipeline, info, _ = fitted
    assert isinstance(pipeline, Pipeline)
    assert [name for name, _ in pipeline.steps] == ["features", "model"]
    model = pipeline.named_steps["model"]
    assert not type(model).__module__.startswith("flaml")
    assert type(model).__name__ == info["model_class"]
    # Nothing FLAML-made hides in the pickle: loading it must not need FLAML.
    assert b"flaml" not in pickle.dumps(pipeline)


def test_search_stays_near_its_time_budget(fitted) -> None:
    *_, info, wall = fitted
    assert info["time_to_best"] <= info["search_time"] <= info["time_used"] <= wall
    assert wall < BUDGET + SLACK


def test_info_reports_the_winner_and_its_cross_validated_score(fitted) -> None:
    _, _, info, _ = fitted
    assert info["best_estimator"] in info["estimator_list"]
    assert info["best_score"] == pytest.approx(1.0 - info["best_loss"])
    # The winner is the family with the best cross-validated AP among those tried.
    scores = info["best_score_per_estimator"]
    assert scores[info["best_estimator"]] == pytest.approx(max(scores.values()))
    assert 0.0 < info["best_score"] <= 1.0
    assert info["n_trials"] >= len(scores)
    assert info["best_config"], "the winning hyper-parameters are reported"


def test_pickle_round_trip_scores_identically(fitted) -> None:
    parts, pipeline, _, _ = fitted
    X_test, _ = xy(parts.test)
    restored = pickle.loads(pickle.dumps(pipeline))
    same_scores(restored.predict_proba(X_test), pipeline.predict_proba(X_test))


def test_skops_round_trip_trusts_only_known_packages(fitted) -> None:
    """The MLflow sklearn flavour saves with skops: every type must be one it may trust."""
    import skops.io
    from fraudops.tracking import skops_types

    parts, pipeline, _, _ = fitted
    X_test, _ = xy(parts.test)
    types = skops_types(pipeline)  # raises when a type comes from an unexpected package
    assert not [t for t in types if t.startswith("flaml")]
    restored = skops.io.loads(skops.io.dumps(pipeline), trusted=types)
    same_scores(restored.predict_proba(X_test), pipeline.predict_proba(X_test))


def test_estimator_list_limits_the_families_tried(small_data: pd.DataFrame) -> None:
    # Every fourth row (about 50 frauds) is plenty to check which family comes back.
    pipeline, info = fit_automl(small_data.iloc[::4], time_budget=2, estimator_list=("lrl1",))
    assert info["best_estimator"] == "lrl1"
    assert type(pipeline.named_steps["model"]).__name__ == "LogisticRegression"
    assert set(info["best_score_per_estimator"]) == {"lrl1"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.iloc[:0], "empty"),
        (lambda df: df[df[TARGET] == 0], "no fraud rows"),
        (lambda df: df[df[TARGET] == 1], "no legitimate rows"),
        (lambda df: pd.concat([df[df[TARGET] == 0], df[df[TARGET] == 1].head(2)]), "2 fraud"),
        (lambda df: df.assign(**{TARGET: df[TARGET] * 2}), "must be 0 or 1"),
        (lambda df: df.drop(columns="V14"), "V14"),
    ],
    ids=[
        "empty",
        "no-fraud",
        "only-fraud",
        "too-few-frauds-for-3-folds",
        "bad-label",
        "missing-column",
    ],
)
def test_bad_training_data_is_refused_with_a_clear_error(small_data, change, message) -> None:
    with pytest.raises(ValueError, match=message):
        fit_automl(change(small_data), time_budget=BUDGET)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_budget": 0}, "time_budget"),
        ({"time_budget": BUDGET, "estimator_list": ("xgboost",)}, "estimator_list"),
        ({"time_budget": BUDGET, "estimator_list": ()}, "estimator_list"),
        ({"time_budget": BUDGET, "metric": "accuracy"}, "metric"),
        ({"time_budget": BUDGET, "n_splits": 1}, "n_splits"),
    ],
    ids=["budget", "unknown-estimator", "no-estimator", "accuracy", "one-fold"],
)
def test_bad_arguments_are_refused_with_a_clear_error(small_data, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        fit_automl(small_data, **kwargs)
