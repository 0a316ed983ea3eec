"""The fast scorer equals the registered pipeline, or the pipeline serves.

For every estimator x imbalance strategy the model factory builds, and for each FLAML family's
plain estimator, the derived scorer (:mod:`fraudops.serving.scorer`) must give the pipeline's
probabilities within :data:`EXACT_TOLERANCE` on generated rows, on the genuine rows of the real
sample, and on the parity gate's reference and split-threshold rows. A fast path that disagrees
(here: one that rounds its inputs to float32, as an ONNX export would) must be refused by the
gate, so that the pipeline serves.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from fraudops.features import make_preprocessor
from fraudops.models import ESTIMATORS, IMBALANCE, make_model
from fraudops.schema import FEATURES
from fraudops.serving import scorer as scoring
from fraudops.serving.scorer import (
    EXACT_TOLERANCE,
    FastScorer,
    PipelineScorer,
    Unsupported,
    check_parity,
    reference_rows,
    scorer_for,
)
from fraudops.split import xy
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

#: Small versions of the factory's defaults: the same code paths in a fraction of the time.
SMALL = {"random_forest": {"n_estimators": 40}, "hist_gb": {"max_iter": 60}}
EXPECTED_PATH = {
    "logreg": "numpy+numpy-linear",
    "random_forest": "numpy+treelite-gtil",
    "hist_gb": "numpy+lightgbm-from-hgb",
    "lightgbm": "numpy+lightgbm",
}


@pytest.fixture(scope="module")
def train(small_data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return xy(small_data.iloc[:6_000])


@pytest.fixture(scope="module")
def rows(small_data: pd.DataFrame) -> np.ndarray:
    """Rows the models never saw, some of them frauds."""
    return small_data.iloc[6_000:8_000][list(FEATURES)].to_numpy()


def fitted(estimator: str, imbalance: str, train) -> Pipeline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the small fits
        return make_model(estimator, imbalance, seed=0, **SMALL.get(estimator, {})).fit(*train)


def assert_same_scores(fast, pipeline, X: np.ndarray) -> None:
    expected = PipelineScorer(pipeline).score(X)
    for got in (
        fast.score(X),  # the batch path for most models
        np.concatenate([fast.score(X[i : i + 1]) for i in range(50)]),  # one row at a time
        fast.small.predict(fast.features(X)),  # the per-row compiled path on every row
    ):
        np.testing.assert_allclose(got, expected[: len(got)], rtol=0, atol=EXACT_TOLERANCE)


@pytest.mark.parametrize("imbalance", IMBALANCE)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_fast_scorer_equals_the_pipeline_for_every_factory_model(
    estimator: str, imbalance: str, train, rows, real_sample: pd.DataFrame
) -> None:
    pipeline = fitted(estimator, imbalance, train)
    serving, parity, fallback = scorer_for(pipeline, threshold=0.5)
    assert fallback is None, fallback
    assert serving.path == EXPECTED_PATH[estimator]
    assert parity.ok and parity.max_abs_diff <= EXACT_TOLERANCE and parity.flipped == 0
    assert_same_scores(serving, pipeline, rows)
    assert_same_scores(serving, pipeline, real_sample[list(FEATURES)].to_numpy())


@pytest.mark.parametrize(
    "model",
    [ExtraTreesClassifier(n_estimators=30, random_state=0, n_jobs=1)],
    ids=["extra_tree"],
)
def test_automl_families_have_a_fast_path(model, train, rows) -> None:
    """FLAML's families end as plain estimators after the project's preprocessor (automl.py)."""
    pipeline = Pipeline([("features", make_preprocessor()), ("model", model)]).fit(*train)
    serving, parity, fallback = scorer_for(pipeline, threshold=0.5)
    assert fallback is None and parity.ok
    assert_same_scores(serving, pipeline, rows)


def test_an_estimator_without_a_fast_path_is_served_by_its_pipeline(train, rows) -> None:
    pipeline = Pipeline(
        [("features", make_preprocessor()), ("model", KNeighborsClassifier(5))]
    ).fit(*train)
    serving, parity, fallback = scorer_for(pipeline, threshold=0.5)
    assert serving.path == "pipeline" and parity is None
    assert "KNeighborsClassifier" in fallback
    np.testing.assert_array_equal(
        serving.score(rows),
        pipeline.predict_proba(pd.DataFrame(rows, columns=list(FEATURES)))[:, 1],
    )


def test_a_different_feature_step_has_no_fast_path(train) -> None:
    from sklearn.preprocessing import StandardScaler

    pipeline = Pipeline([("features", StandardScaler()), ("model", KNeighborsClassifier())])
    with pytest.raises(Unsupported, match="feature step"):
        FastScorer(pipeline.fit(*train))


# Not the random forest: scikit-learn's trees compare float32 copies of the features themselves,
# so a float32 path is the exact one there (the scorer casts for them).
@pytest.mark.parametrize("estimator", ["hist_gb", "lightgbm", "logreg"])
def test_a_float32_path_fails_the_gate_and_the_pipeline_serves(
    estimator: str, train, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path that rounds its inputs to float32 (as ONNX trees do) differs on the split rows."""
    pipeline = fitted(estimator, "class_weight", train)
    real_backend = scoring._backend

    def float32_backend(model):
        backend = real_backend(model)
        return scoring._Backend(
            backend.name,
            lambda z: backend.predict(z.astype(np.float32).astype(np.float64)),
            backend.large_from,
            backend.treelite_model,
        )

    monkeypatch.setattr(scoring, "_backend", float32_backend)
    serving, parity, fallback = scorer_for(pipeline, threshold=0.5)
    assert serving.path == "pipeline"
    assert not parity.ok and parity.max_abs_diff > EXACT_TOLERANCE
    assert "differs from the pipeline" in fallback


def test_reference_rows_are_fixed_and_reach_the_schema_bounds() -> None:
    first, again = reference_rows(), reference_rows()
    np.testing.assert_array_equal(first, again)
    assert np.isfinite(first).all()
    assert first.max() == 1e10 and first.min() == -1e9  # Time's and a V column's bounds
    assert (first[:, FEATURES.index("Amount")] >= 0).all()


def test_parity_counts_flipped_decisions(train) -> None:
    pipeline = fitted("logreg", "class_weight", train)
    fast = FastScorer(pipeline)
    rows = reference_rows()
    # Every reference row scored by the pipeline, at a threshold placed on one of the scores:
    # an exact path flips nothing.
    threshold = float(np.median(PipelineScorer(pipeline).score(rows)))
    parity = check_parity(fast, pipeline, threshold, rows=rows)
    assert parity.ok and parity.flipped == 0 and parity.rows >= len(rows)


def _hist_gb_with_missing_values(**options) -> tuple[object, np.ndarray]:
    """A HistGradientBoosting model trained with NaN, and rows with NaN and infinities."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3_000, 4))
    y = (X[:, 0] + X[:, 1] > 0.3).astype(int)
    X[rng.random(X.shape) < 0.1] = np.nan
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0, **options).fit(X, y)
    rows = rng.normal(size=(5_000, 4))
    rows[rng.random(rows.shape) < 0.2] = np.nan
    rows[0], rows[1] = np.inf, -np.inf
    return model, rows


def _internal_nodes(model) -> np.ndarray:
    return np.concatenate([p[0].nodes[p[0].nodes["is_leaf"] == 0] for p in model._predictors])


@pytest.mark.parametrize(
    ("options", "shape_of_trees"),
    [
        # Beyond what the service admits: NaN going either way, a split on missing values
        # alone (threshold +inf), and +-inf rows past every split.
        ({}, lambda m: set(_internal_nodes(m)["missing_go_to_left"]) == {0, 1}
         and np.isinf(_internal_nodes(m)["num_threshold"]).any()),
        # Trees of a single leaf (no split possible): only the baseline and leaf values.
        ({"min_samples_leaf": 10_000}, lambda m: all(len(p[0].nodes) == 1 for p in m._predictors)),
    ],
    ids=["missing-values-and-infinities", "single-leaf-trees"],
)  # fmt: skip
def test_hist_gb_as_lightgbm_scores_exactly_as_the_estimator(options, shape_of_trees) -> None:
    from fraudops.serving.hgb_as_lightgbm import to_booster

    model, rows = _hist_gb_with_missing_values(**options)
    assert shape_of_trees(model)  # the case really is exercised
    np.testing.assert_allclose(
        to_booster(model).predict(rows),
        model.predict_proba(rows)[:, 1],
        rtol=0,
        atol=EXACT_TOLERANCE,
    )


def test_hist_gb_the_rewrite_does_not_cover_keeps_the_treelite_path() -> None:
    """Categorical splits and multi-class models are refused by name; Treelite scores those."""
    from fraudops.serving.hgb_as_lightgbm import model_text
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(2_000, 31))
    X[:, 30] = rng.integers(0, 4, len(X))
    y = (X[:, 0] + (X[:, 30] == 2) > 0.5).astype(int)
    categorical = HistGradientBoostingClassifier(max_iter=10, categorical_features=[30]).fit(X, y)
    with pytest.raises(ValueError, match="categorical"):
        model_text(categorical)
    backend = scoring._backend(categorical)
    assert backend.name == "treelite-gtil"
    np.testing.assert_allclose(
        backend.predict(X[:200]), categorical.predict_proba(X[:200])[:, 1], atol=EXACT_TOLERANCE
    )
    multi = HistGradientBoostingClassifier(max_iter=3).fit(X[:, :4], rng.integers(0, 3, len(X)))
    with pytest.raises(ValueError, match="one tree per iteration"):
        model_text(multi)
