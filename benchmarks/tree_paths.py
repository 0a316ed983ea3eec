"""The tree paths the fast scorer can take for a HistGradientBoosting model, side by side.

One model (the factory's ``hist_gb`` with class weights, trained on full-size synthetic data),
its features already transformed (:class:`fraudops.serving.scorer.NumpyFeatures`), one thread,
three ways of walking its trees:

- the estimator's own ``predict_proba`` (scikit-learn's OpenMP predictor);
- Treelite's GTIL (:class:`fraudops.serving.scorer._GTIL`), the path before the rewrite;
- the trees rewritten as a LightGBM booster (:mod:`fraudops.serving.hgb_as_lightgbm`): one row
  through the single-row C API, many through ``Booster.predict``: the path the scorer takes.

For each: the median time of one row, rows/s at 10,000 rows, and the largest probability
difference from the estimator on the test rows. This is the measurement behind the path choice
in :mod:`fraudops.serving.scorer`'s docstring.

    python -m benchmarks tree_paths     # about 1-2 minutes
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._results import table, write
from benchmarks.generator import generator_seconds

ONE_ROW_CALLS = 20_000
BATCH = 10_000


def _one_row_us(fn: Callable[[np.ndarray], Any], z: np.ndarray) -> float:
    rows = [z[i : i + 1] for i in range(500)]
    for row in rows[:50]:
        fn(row)
    times = np.empty(ONE_ROW_CALLS)
    for i in range(ONE_ROW_CALLS):
        t0 = time.perf_counter()
        fn(rows[i % 500])
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e6)


def _rows_per_s(fn: Callable[[np.ndarray], Any], z: np.ndarray) -> float:
    fn(z)
    t0, calls = time.perf_counter(), 0
    while calls < 3 or time.perf_counter() - t0 < 2.0:
        fn(z)
        calls += 1
    return len(z) * calls / (time.perf_counter() - t0)


def report(figures: dict[str, Any]) -> str:
    shown = [
        {
            "path": row["path"],
            "one row, p50 (µs)": f"{row['one_row_p50_us']:,.1f}",
            f"rows/s at {BATCH:,}": f"{row[f'rows_per_s_{BATCH}']:,.0f}",
            "largest difference": f"{row['max_abs_diff']:.2g}",
        }
        for row in figures["paths"]
    ]
    return f"""# Tree paths for a HistGradientBoosting model

The factory's `hist_gb` (class weights, {figures["trees"]} trees), trained on
{figures["train_rows"]:,} rows of full-size synthetic data; features already transformed; one
thread. Largest difference: of the probability, against the estimator, on {BATCH:,} test rows.
Rewriting the trees as LightGBM model text and loading it took {figures["rewrite_ms"]:.0f} ms.
Generator figure of this run: {figures["generator_seconds"]:.2f} s (`python -m benchmarks
generator`, the fraudops row).

{table(shown, list(shown[0]))}
"""


def main() -> None:
    import treelite
    from fraudops.data import generate
    from fraudops.models import make_model
    from fraudops.schema import FULL_ROWS
    from fraudops.serving import hgb_as_lightgbm
    from fraudops.serving.scorer import _GTIL, NumpyFeatures, _LightGBMOneRow
    from fraudops.split import time_split, xy
    from threadpoolctl import threadpool_limits

    print("the machine's speed figure (python -m benchmarks generator)...", flush=True)
    generator = generator_seconds()
    print("training the HistGradientBoosting model (full size)...", flush=True)
    split = time_split(generate(rows=FULL_ROWS, seed=0))
    pipeline = make_model("hist_gb", "class_weight", seed=0).fit(*xy(split.train))
    estimator = pipeline.steps[-1][1]
    z = NumpyFeatures(pipeline.steps[0][1])(xy(split.test)[0].to_numpy())[:BATCH]
    t0 = time.perf_counter()
    booster = hgb_as_lightgbm.to_booster(estimator)
    rewrite_ms = (time.perf_counter() - t0) * 1000
    gtil, one_row = _GTIL(treelite.sklearn.import_model(estimator)), _LightGBMOneRow(booster, 31)
    paths = {
        "estimator's own predict_proba": lambda x: estimator.predict_proba(x)[:, 1],
        "Treelite GTIL": lambda x: gtil(x)[:, -1],
        "rewritten as a LightGBM booster": (
            lambda x: one_row(x) if len(x) == 1 else booster.predict(x, num_threads=1)
        ),
    }
    expected = paths["estimator's own predict_proba"](z)
    rows = []
    with threadpool_limits(limits=1):
        for name, fn in paths.items():
            print(f"  {name}...", flush=True)
            rows.append(
                {
                    "path": name,
                    "one_row_p50_us": _one_row_us(fn, z),
                    f"rows_per_s_{BATCH}": _rows_per_s(fn, z),
                    "max_abs_diff": float(np.max(np.abs(fn(z) - expected))),
                }
            )
    figures = {
        "generator_seconds": generator,
        "trees": len(estimator._predictors),
        "train_rows": len(split.train),
        "rewrite_ms": rewrite_ms,
        "paths": rows,
    }
    markdown = report(figures)
    path = write("tree_paths", figures, markdown)
    print(markdown, flush=True)
    print(f"written to {path}", flush=True)


if __name__ == "__main__":
    main()
