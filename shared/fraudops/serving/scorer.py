"""A fast scorer derived from a registered pipeline, and the parity gate that decides whether to use it.

The registered scikit-learn pipeline (:func:`fraudops.models.make_model`,
:func:`fraudops.automl.fit_automl`) stays the one source of truth: training, evaluation and
``mlflow models serve`` use it as it is. What it costs per call is not the model: measured here
(generator figure 1.7 s, one thread, a 200-tree model), ``predict_proba`` on a one-row DataFrame
took 3,300-3,600 µs for HistGradientBoosting and LightGBM and 36,000 µs for the 200-tree random
forest. The estimator alone, on the transformed NumPy row, still took 926 µs (HistGradientBoosting:
one OpenMP region per tree), 442 µs (LightGBM through its scikit-learn wrapper) and 32,800 µs (the
forest: joblib dispatch per tree). So the service derives a scorer that does the same arithmetic
without that machinery:

* **Features as plain NumPy** from the fitted transformers' own parameters (the robust scalers'
  ``center_`` and ``scale_``, ``log1p`` of the clipped amount, sine and cosine of the hour), in
  the same order of floating-point operations, so the result is bit-identical: 8-9 µs per row.
* **Trees through a compiled path, picked by measurement** (one row, features given, same machine):

  ==========================  ========  ========  ==========================================
  path                        HGB 200   RF 200    notes
  ==========================  ========  ========  ==========================================
  scikit-learn estimator      926 µs    32.8 ms   the baseline
  Treelite GTIL (float64)     32 µs     39 µs     exact: largest difference 0.0 on 20,000 rows
  ONNX Runtime (float32)      failed    7 µs      float32 splits (differences up to 8e-7);
                                                  skl2onnx 1.20 could not convert this
                                                  HistGradientBoosting; four more packages
  LightGBM single-row C API   18 µs     n/a       17 µs through ``Booster.predict``; for HGB,
                                                  its trees rewritten as a LightGBM model
  ==========================  ========  ========  ==========================================

  So: LightGBM models score through LightGBM's own booster, one row through its single-row C
  API (:class:`_LightGBMOneRow`). HistGradientBoosting is the same kind of model (binary
  regression trees on float64 features, summed, then the logistic function), so its trees are
  rewritten as a LightGBM booster (:mod:`fraudops.serving.hgb_as_lightgbm`) and take the same
  path: 44 -> 18 µs a row on one thread, and 121,000 against the estimator's own 91,000 rows/s
  for 10,000 rows (``python -m benchmarks tree_paths``, generator figure 2.42 s). Random forests, extra trees and what the rewrite does not cover
  (categorical splits) go through Treelite's GTIL, an interpreter in C++ that needs no compiler
  at run time and keeps the thresholds in float64 (``treelite.sklearn.import_model``); logistic
  regression is one dot product in NumPy. Every path is exact up to summation order, so the
  parity tolerance is :data:`EXACT_TOLERANCE` (1e-9). ONNX Runtime was faster per row for the
  forest, but in float32 a value a hair above a split threshold can fall on the other side,
  which would need the looser tolerance and a per-version check that no decision flips; not
  worth it when the exact paths already sit far below the HTTP layer's own cost.
* **Large batches** go to the estimator's own vectorised predict on the NumPy features, from the
  measured crossover of each path on (GTIL walks one row at a time: 17 µs a row for a 200-tree
  forest, against 1 µs for the forest's own predict after its 42 ms of dispatch). That skips only
  the DataFrame and the ``ColumnTransformer``, so it is exact by construction. The booster
  rewritten from HistGradientBoosting is faster than the estimator at every size and keeps all
  of them.

Anything else (an estimator with no fast path, a feature step that is not the project's
preprocessor) is served through the pipeline itself (:class:`PipelineScorer`). And whatever was
derived is used only when :func:`check_parity` finds it equal to the pipeline on
:func:`reference_rows` (seeded generated transactions, extreme and boundary values) and on rows
placed exactly on, and a hair either side of, the model's own split thresholds
(:func:`split_rows`). :func:`scorer_for` does both and says which scorer it chose and why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.special import expit

from fraudops.schema import AMOUNT, DAY_SECONDS, FEATURES, TIME, V_COLUMNS
from fraudops.serving.schemas import LOWER_BOUNDS, MAX_ABS_FEATURE, MAX_TIME, UPPER_BOUNDS

log = logging.getLogger(__name__)

#: Largest difference of probabilities allowed between an exact fast path and the pipeline
#: (summation order is the only difference, about 1e-16 in practice).
EXACT_TOLERANCE = 1e-9
#: Seed of the reference rows: the same rows for every version, so a parity failure reproduces.
REFERENCE_SEED = 20_261_202

_N_FEATURES = len(FEATURES)
_V_INDEX = np.array([FEATURES.index(c) for c in V_COLUMNS])
# V1..V28 are contiguous in FEATURES: a slice view costs 0.3 µs where fancy indexing costs 1.4.
_V_SLICE = slice(int(_V_INDEX[0]), int(_V_INDEX[-1]) + 1)
assert np.array_equal(np.arange(len(FEATURES))[_V_SLICE], _V_INDEX)
_AMOUNT_INDEX = FEATURES.index(AMOUNT)
_TIME_INDEX = FEATURES.index(TIME)


class Unsupported(ValueError):
    """The pipeline has no fast path; the message says which part."""


class Scorer(Protocol):
    """Anything that turns raw feature rows into P(fraud)."""

    #: Which path scores: ``"pipeline"`` or ``"numpy+<backend>"``.
    path: str

    def score(self, rows: np.ndarray) -> np.ndarray:
        """P(fraud) of each row of ``rows`` (shape ``(n, 30)``, columns in FEATURES order)."""
        ...


class PipelineScorer:
    """The registered pipeline itself, given a DataFrame as in training (the fallback)."""

    path = "pipeline"

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def score(self, rows: np.ndarray) -> np.ndarray:
        """P(fraud) of each row, through ``pipeline.predict_proba``."""
        frame = pd.DataFrame(rows, columns=list(FEATURES), copy=False)
        return self.pipeline.predict_proba(frame)[:, 1]


# -- features ----------------------------------------------------------------------------------


class NumpyFeatures:
    """:func:`fraudops.features.make_preprocessor`'s transform, from its fitted parameters.

    Raises:
        Unsupported: the transformer is not the project's preprocessor (other steps, columns
            or options), so its arithmetic cannot be assumed.
    """

    def __init__(self, transformer: Any) -> None:
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import RobustScaler

        from fraudops.features import HourOfDay, LogAmount

        if not isinstance(transformer, ColumnTransformer):
            raise Unsupported(f"feature step is a {type(transformer).__name__}, not the project's")
        steps = {name: (step, list(cols)) for name, step, cols in transformer.transformers_}
        try:
            v, v_cols = steps["v"]
            amount, amount_cols = steps["amount"]
            hour, hour_cols = steps["hour"]
        except KeyError as exc:
            raise Unsupported(f"feature step has no {exc.args[0]!r} part") from None
        expected = {"v", "amount", "hour", "remainder"}
        if set(steps) - expected or v_cols != list(V_COLUMNS):
            raise Unsupported(f"feature step parts {sorted(steps)} differ from the project's")
        if steps.get("remainder", ("drop", []))[0] != "drop" or not (
            isinstance(v, RobustScaler)
            and amount_cols == [AMOUNT]
            and [type(s) for _, s in getattr(amount, "steps", [])] == [LogAmount, RobustScaler]
            and isinstance(hour, HourOfDay)
            and hour_cols == [TIME]
        ):
            raise Unsupported("feature step differs from fraudops.features.make_preprocessor")
        scale = amount.steps[1][1]
        for name, scaler in (("v", v), ("amount", scale)):
            if not (scaler.with_centering and scaler.with_scaling):
                raise Unsupported(f"the {name!r} scaler does not both centre and scale")
        self._v_center, self._v_scale = v.center_, v.scale_
        self._a_center, self._a_scale = float(scale.center_[0]), float(scale.scale_[0])

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """The model's 31 input columns for ``rows`` (``(n, 30)``, FEATURES order)."""
        out = np.empty((rows.shape[0], 31))
        # The same operations in the same order as RobustScaler.transform (subtract, then
        # divide), LogAmount and HourOfDay: the result is bit-identical, not merely close.
        np.subtract(rows[:, _V_SLICE], self._v_center, out=out[:, :28])
        out[:, :28] /= self._v_scale
        # np.maximum is what np.clip(x, 0.0, None) computes (LogAmount), without clip's 1.7 µs
        # of argument handling per call.
        out[:, 28] = (np.log1p(np.maximum(rows[:, _AMOUNT_INDEX], 0.0)) - self._a_center) / (
            self._a_scale
        )
        angle = 2.0 * np.pi * np.mod(rows[:, _TIME_INDEX], DAY_SECONDS) / DAY_SECONDS
        out[:, 29] = np.sin(angle)
        out[:, 30] = np.cos(angle)
        return out


# -- model backends ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Backend:
    """One way of scoring transformed rows; tree paths keep their Treelite model for its splits."""

    name: str
    predict: Callable[[np.ndarray], np.ndarray]
    #: From this many rows on, the estimator's own vectorised predict is faster (None: never).
    large_from: int | None
    treelite_model: Any = None


def _class_one(estimator: Any) -> int:
    classes = list(getattr(estimator, "classes_", []))
    if len(classes) != 2 or 1 not in classes:
        raise Unsupported(f"{type(estimator).__name__} is not a binary 0/1 classifier")
    return classes.index(1)


def _backend(estimator: Any) -> _Backend:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression

    index = _class_one(estimator)
    name = type(estimator).__name__
    if name == "LGBMClassifier":
        import treelite

        if index != 1:
            raise Unsupported("LightGBM model with classes in an unexpected order")
        booster = estimator.booster_
        # Measured (200 trees): the booster costs 30 µs + 3.7 µs a row on one thread, the
        # scikit-learn wrapper 500 µs + 2 µs a row on its two (n_jobs): equal near 200 rows.
        return _lightgbm("lightgbm", booster, 200, treelite.frontend.from_lightgbm(booster))
    if isinstance(estimator, HistGradientBoostingClassifier):
        import treelite

        from fraudops.serving import hgb_as_lightgbm

        try:
            booster = hgb_as_lightgbm.to_booster(estimator)
        except ValueError as exc:
            log.info("HistGradientBoosting through Treelite: %s", exc)
        else:
            if index != 1:
                raise Unsupported("HistGradientBoosting with classes in an unexpected order")
            # The rewritten booster beats HistGradientBoosting's own predict at every size
            # (10,000 rows, one thread: 121,000 against 91,000 rows/s, benchmarks/tree_paths.py),
            # so it scores all of them; the Treelite import supplies the split thresholds.
            return _lightgbm(
                "lightgbm-from-hgb", booster, None, treelite.sklearn.import_model(estimator)
            )
    trees = (HistGradientBoostingClassifier, RandomForestClassifier, ExtraTreesClassifier)
    if isinstance(estimator, trees):
        return _treelite(estimator, index)
    if isinstance(estimator, LogisticRegression):
        if estimator.coef_.shape != (1, 31):
            raise Unsupported("logistic regression with an unexpected coefficient shape")
        coef = estimator.coef_[0].copy()
        intercept = float(estimator.intercept_[0])
        sign = 1.0 if index == 1 else -1.0

        def linear(z: np.ndarray) -> np.ndarray:
            # predict_proba's binary case: scipy's expit of the decision function, as
            # scikit-learn computes it (no overflow warning at the schema's extremes).
            return expit(sign * (z @ coef + intercept))

        return _Backend("numpy-linear", linear, None)
    raise Unsupported(f"no fast path for {name}")


def _treelite(estimator: Any, index: int) -> _Backend:
    import treelite
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = treelite.sklearn.import_model(estimator)
    if model.num_feature != 31:
        raise Unsupported(f"tree model reads {model.num_feature} features, not 31")
    predict = _GTIL(model)
    # scikit-learn's decision trees (forests, extra trees) compare float32 copies of the
    # features with their thresholds; HistGradientBoosting compares float64. Found by the split
    # rows of the parity gate: without the cast a forest differed by 0.02 on rows a hair from a
    # threshold, while 20,000 generated rows agreed exactly.
    float32_inputs = not isinstance(estimator, HistGradientBoostingClassifier)
    column = -1 if predict.per_class == 1 else index
    # GTIL walks one row at a time: 11 µs a row for 200 boosted trees, 17 µs for a 200-tree
    # forest. The estimators' own predict loops over all rows in compiled code after a fixed
    # cost per call (HistGradientBoosting: 900 µs + 4 µs a row; the forest: 42 ms of joblib
    # dispatch + 1 µs a row): measured crossovers near 100 and 2,500 rows.
    large_from = 100 if not float32_inputs else 2_500

    def trees(z: np.ndarray) -> np.ndarray:
        if float32_inputs:
            z = z.astype(np.float32).astype(np.float64)
        return predict(z)[:, column]

    return _Backend("treelite-gtil", trees, large_from, model)


def _lightgbm(name: str, booster: Any, large_from: int | None, treelite_model: Any) -> _Backend:
    """A LightGBM booster as a backend: one row through the single-row C API, more in bulk."""
    one_row = _LightGBMOneRow(booster, n_features=31)

    def lightgbm(z: np.ndarray) -> np.ndarray:
        if len(z) == 1:
            return one_row(z)
        return booster.predict(z, num_threads=1)

    return _Backend(name, lightgbm, large_from, treelite_model)


class _LightGBMOneRow:
    """One row through LightGBM's single-row C API (``LGBM_BoosterPredictForMatSingleRowFast``).

    ``Booster.predict`` checks and converts its input and sets up a prediction on every call;
    for one row that set-up, not the trees, is most of its cost. The fast API does the set-up
    once (``...FastInit``: one thread, float64, this booster's iterations) and then only walks
    the trees: the same predictor, so the same probability (the parity gate checks it).
    Calls are serialised by a lock: the configuration handle is not meant to be shared by threads
    at once, and a one-row call holds it for microseconds.
    """

    _PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: probabilities, as predict_proba
    _FLOAT64 = 1  # C_API_DTYPE_FLOAT64

    def __init__(self, booster: Any, n_features: int) -> None:
        import ctypes
        import threading

        from lightgbm.basic import _LIB, _safe_call

        self._lib, self._check, self._ctypes = _LIB, _safe_call, ctypes
        # As Booster.predict(num_iteration=None): the best iteration when there is one.
        best = booster.best_iteration
        self._config = ctypes.c_void_p()
        self._check(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(self._PREDICT_NORMAL),
                ctypes.c_int(0),
                ctypes.c_int(best if best and best > 0 else -1),
                ctypes.c_int(self._FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self._config),
            )
        )
        self._booster = booster  # the configuration points into it: keep it alive
        self._out_len = ctypes.c_int64()
        self._double_p = ctypes.POINTER(ctypes.c_double)
        self._lock = threading.Lock()

    def __call__(self, z: np.ndarray) -> np.ndarray:
        row = np.ascontiguousarray(z[0], dtype=np.float64)
        out = np.empty(1)
        with self._lock:
            self._check(
                self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                    self._config,
                    row.ctypes.data_as(self._ctypes.c_void_p),
                    self._ctypes.byref(self._out_len),
                    out.ctypes.data_as(self._double_p),
                )
            )
        return out

    def __del__(self) -> None:
        config = getattr(self, "_config", None)
        if config is not None and config.value:
            self._lib.LGBM_FastConfigFree(config)


class _GTIL:
    """Treelite's GTIL predict through its C API, with the configuration made once.

    ``treelite.gtil.predict`` builds a configuration object from JSON, asks for the output
    shape and converts the input on every call: measured at 30 of the 32 µs it takes for one
    row of a 200-tree model. The tree walk itself is about 2 µs.
    """

    def __init__(self, model: Any) -> None:
        import ctypes

        from treelite.core import _LIB, _check_call
        from treelite.gtil.gtil import GTILConfig

        if (model.input_type, model.output_type) != ("float64", "float64"):
            raise Unsupported(f"tree model in {model.input_type}, not float64")
        self._model, self._lib, self._check = model, _LIB, _check_call
        self._config = GTILConfig(nthread=1, predict_type="default")
        self._ctypes = ctypes
        self._float_p = ctypes.POINTER(ctypes.c_double)
        self._type = ctypes.c_char_p(b"float64")
        probe = __import__("treelite.gtil", fromlist=["predict"]).predict(
            model, np.zeros((1, model.num_feature)), nthread=1
        )
        self.per_class = probe.shape[-1]
        self._tail = probe.shape[1:]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.ascontiguousarray(z, dtype=np.float64)
        out = np.empty((len(z), *self._tail))
        self._check(
            self._lib.TreeliteGTILPredict(
                self._model.handle,
                z.ctypes.data_as(self._float_p),
                self._type,
                self._ctypes.c_uint64(len(z)),
                out.ctypes.data_as(self._float_p),
                self._config.handle,
            )
        )
        return out.reshape(len(z), -1)


class FastScorer:
    """NumPy features, then a compiled model path (see the module docstring).

    Args:
        pipeline: a fitted ``[features, (resample), model]`` pipeline.

    Raises:
        Unsupported: some part has no fast path; serve the pipeline instead.
    """

    def __init__(self, pipeline: Any) -> None:
        steps = getattr(pipeline, "steps", None)
        if not steps or len(steps) < 2 or steps[0][0] != "features":
            raise Unsupported("not a [features, ..., model] pipeline")
        for name, step in steps[1:-1]:
            # Samplers (SMOTE, under-sampling) act during fit only; anything else transforms.
            if step not in (None, "passthrough") and not hasattr(step, "fit_resample"):
                raise Unsupported(f"step {name!r} ({type(step).__name__}) has no fast path")
        self.features = NumpyFeatures(steps[0][1])
        self.estimator = steps[-1][1]
        self.small = _backend(self.estimator)
        self.path = f"numpy+{self.small.name}"

    def score(self, rows: np.ndarray) -> np.ndarray:
        """P(fraud) of each row of ``rows`` (shape ``(n, 30)``, columns in FEATURES order)."""
        z = self.features(rows)
        large_from = self.small.large_from
        if large_from is not None and len(z) >= large_from:
            return self.score_transformed(z)
        return self.small.predict(z)

    def score_transformed(self, z: np.ndarray) -> np.ndarray:
        """The estimator's own vectorised predict on already transformed rows (large batches)."""
        return self.estimator.predict_proba(z)[:, _class_one(self.estimator)]


# -- the parity gate -------------------------------------------------------------------------------


def reference_rows(n: int = 512, seed: int = REFERENCE_SEED) -> np.ndarray:
    """Raw rows on which a fast scorer must equal the pipeline (same rows for every version).

    Half are generated transactions (one in five a fraud, so both score ranges are covered),
    a quarter are wide random values, and the rest are extremes the request schema still
    admits: zeros, each bound (``|V| = 1e9``, ``Amount`` 0 and 1e9, ``Time`` 0, a day's edge and
    1e10) and values of one feature at its bound with the others typical.
    """
    from fraudops.data.generate import generate

    rng = np.random.default_rng(seed)
    generated = generate(max(n // 2, 10), seed=seed, fraud_rate=0.2)[list(FEATURES)].to_numpy()
    wide = rng.standard_t(2, size=(max(n // 4, 1), _N_FEATURES)) * 10.0
    wide[:, _TIME_INDEX] = rng.uniform(0, 3 * DAY_SECONDS, len(wide))
    wide[:, _AMOUNT_INDEX] = np.exp(rng.uniform(-3, 10, len(wide)))
    typical = np.median(generated, axis=0)
    extremes = [np.zeros(_N_FEATURES)]
    for value in (-MAX_ABS_FEATURE, MAX_ABS_FEATURE, 5e-324, -5e-324):
        row = np.full(_N_FEATURES, value)
        row[_TIME_INDEX], row[_AMOUNT_INDEX] = 0.0, abs(value)
        extremes.append(row)
    for t in (0.0, DAY_SECONDS - 1e-6, DAY_SECONDS, MAX_TIME):
        for amount in (0.0, 1e-9, MAX_ABS_FEATURE):
            row = typical.copy()
            row[_TIME_INDEX], row[_AMOUNT_INDEX] = t, amount
            extremes.append(row)
    for i in _V_INDEX:
        for value in (-MAX_ABS_FEATURE, MAX_ABS_FEATURE):
            row = typical.copy()
            row[i] = value
            extremes.append(row)
    rows = np.vstack([generated, wide, np.array(extremes)])
    return np.clip(rows, LOWER_BOUNDS, UPPER_BOUNDS)


def split_rows(model: Any, base: np.ndarray, limit: int = 600) -> np.ndarray:
    """Transformed rows placed on the tree model's split thresholds and a hair either side.

    Where ``x <= t`` and ``x < t`` part ways, a path that compares differently (another
    operator, a float32 threshold) gives another leaf; random rows almost never land there.

    Args:
        model: a Treelite model (its JSON dump lists every numerical split).
        base: one transformed row whose other features stay as they are.
        limit: at most this many thresholds, taken evenly from all of them.
    """
    dump = json.loads(model.dump_as_json(pretty_print=False))
    splits = [
        (node["split_feature_id"], node["threshold"])
        for tree in dump["trees"]
        for node in tree["nodes"]
        if node.get("node_type") == "numerical_test_node"
    ]
    if not splits:
        return np.empty((0, len(base)))
    chosen = np.linspace(0, len(splits) - 1, min(limit, len(splits))).astype(int)
    rows = []
    for feature, threshold in (splits[i] for i in chosen):
        for value in (np.nextafter(threshold, -np.inf), threshold, np.nextafter(threshold, np.inf)):
            row = base.copy()
            row[feature] = value
            rows.append(row)
    return np.array(rows)


@dataclass(frozen=True)
class Parity:
    """What the parity gate found: the fast path is used only when ``ok``."""

    ok: bool
    path: str
    rows: int
    max_abs_diff: float
    flipped: int
    tolerance: float
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain JSON values (``GET /model``, logs)."""
        return {
            "ok": self.ok,
            "path": self.path,
            "rows": self.rows,
            "max_abs_diff": self.max_abs_diff,
            "flipped": self.flipped,
            "tolerance": self.tolerance,
            "reason": self.reason,
        }


def check_parity(
    fast: FastScorer,
    pipeline: Any,
    threshold: float,
    *,
    rows: np.ndarray | None = None,
    tolerance: float = EXACT_TOLERANCE,
) -> Parity:
    """Score the reference rows both ways; the fast path passes when every probability agrees.

    Compared: the pipeline against the fast scorer on raw rows, through both its per-row path
    (one row at a time, and all rows in one call) and its batch path; and on :func:`split_rows`,
    the estimator's own predict against the per-row compiled path. Agreement means the largest
    absolute difference is within ``tolerance`` and no decision at ``threshold`` differs.
    """
    rows = reference_rows() if rows is None else rows
    expected = PipelineScorer(pipeline).score(rows)
    z = fast.features(rows)
    got = [
        np.concatenate([fast.score(rows[i : i + 1]) for i in range(min(len(rows), 64))]),
        fast.small.predict(z),
        fast.score_transformed(z),
    ]
    pairs = [(expected[: len(g)], g) for g in got]
    if fast.small.treelite_model is not None:
        on_splits = split_rows(fast.small.treelite_model, z[0])
        if len(on_splits):
            pairs.append((fast.score_transformed(on_splits), fast.small.predict(on_splits)))
    n = sum(len(e) for e, _ in pairs)
    diffs = [np.abs(e - g) for e, g in pairs]
    worst = max(float(np.nanmax(d)) if len(d) else 0.0 for d in diffs)
    if any(np.isnan(d).any() for d in diffs):
        worst = float("inf")
    flipped = sum(int(np.count_nonzero((e >= threshold) != (g >= threshold))) for e, g in pairs)
    ok = worst <= tolerance and flipped == 0
    reason = None
    if not ok:
        reason = (
            f"{fast.path} differs from the pipeline on the reference rows: largest difference "
            f"{worst:.3g} (tolerance {tolerance:g}), {flipped} decision(s) flipped at {threshold:g}"
        )
    return Parity(ok, fast.path, n, worst, flipped, tolerance, reason)


def scorer_for(pipeline: Any, threshold: float) -> tuple[Scorer, Parity | None, str | None]:
    """The scorer to serve ``pipeline`` with: the fast one when it exists and passes parity.

    Returns:
        ``(scorer, parity, reason)``: ``parity`` is ``None`` when no fast path could be derived;
        ``reason`` says why the pipeline is served (``None`` when the fast path is).
    """
    try:
        fast = FastScorer(pipeline)
    except Unsupported as exc:
        return PipelineScorer(pipeline), None, f"no fast path: {exc}"
    try:
        parity = check_parity(fast, pipeline, threshold)
    except Exception as exc:  # a fast path that cannot even run is one that disagrees
        log.exception("parity check of %s failed to run", fast.path)
        return PipelineScorer(pipeline), None, f"parity check failed: {type(exc).__name__}: {exc}"
    if not parity.ok:
        return PipelineScorer(pipeline), parity, parity.reason
    return fast, parity, None
