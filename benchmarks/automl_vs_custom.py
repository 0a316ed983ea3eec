"""AutoML (FLAML, 60 s budget) against custom ML, on full-size synthetic data and the real sample.

Custom ML is what the Level 1 pipeline trains (``params.yaml``, section ``train_custom``): the
estimator and imbalance handling of :func:`fraudops.models.make_model` with its default
hyper-parameters, and the same pipeline tuned by a small randomised search over
:func:`fraudops.models.search_space` with stratified cross-validation scored by average
precision. AutoML is :func:`fraudops.automl.fit_automl` with its default estimator families.

* **synthetic**: ``generate(FULL_ROWS, seed=0)`` cut by :func:`fraudops.split.time_split`; every
  candidate trains on the train part, picks its best-F1 threshold on the valid part and is
  measured on the test part (the newest rows).
* **real**: the genuine sample (492 frauds, 4,920 legitimate rows) in 5 stratified folds. In each
  fold the training rows are split 80/20 (stratified) into fitting and threshold rows; metrics
  on the held-out fold weight legitimate rows by 57.79, so they estimate the full population.

Figures: average precision (first), ROC-AUC, precision/recall/F1 at the best-F1 threshold,
training seconds (search included) and the model each candidate ended with.

    python -m benchmarks.automl_vs_custom
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fraudops.automl import fit_automl
from fraudops.data import generate, load
from fraudops.metrics import evaluate
from fraudops.models import make_model, search_space
from fraudops.params import load_params
from fraudops.schema import FULL_ROWS, TARGET
from fraudops.split import stratified_cv, time_split, xy
from fraudops.thresholds import choose_threshold
from sklearn.model_selection import RandomizedSearchCV, train_test_split

from benchmarks._real import REAL_LEGIT_WEIGHT, REAL_SAMPLE
from benchmarks._results import table, write

ROOT = Path(__file__).resolve().parents[1]
AUTOML_BUDGET = 60.0
REAL_FOLDS = 5
SEED = 0

#: A candidate trains on a frame and returns the fitted model and what it chose: ``family``
#: (the model family, short) and ``chosen`` (the family with its settings), plus extras.
Trainer = Callable[[pd.DataFrame], tuple[Any, dict[str, Any]]]


def _custom_settings() -> dict[str, Any]:
    """The Level 1 pipeline's custom-ML settings, so the benchmark compares what it trains."""
    section = load_params(ROOT / "params.yaml")["train_custom"]
    return {k: section[k] for k in ("estimator", "imbalance", "n_iter", "cv_folds")}


def custom_default(train: pd.DataFrame) -> tuple[Any, dict[str, Any]]:
    """make_model's defaults for the configured estimator, no search."""
    cfg = _custom_settings()
    X, y = xy(train)
    model = make_model(cfg["estimator"], cfg["imbalance"], seed=SEED).fit(X, y)
    return model, {
        "family": cfg["estimator"],
        "chosen": f"{cfg['estimator']} ({cfg['imbalance']}), defaults",
    }


def custom_search(train: pd.DataFrame) -> tuple[Any, dict[str, Any]]:
    """A randomised search over search_space with stratified CV, scored by average precision."""
    cfg = _custom_settings()
    search = RandomizedSearchCV(
        make_model(cfg["estimator"], cfg["imbalance"], seed=SEED),
        search_space(cfg["estimator"], cfg["imbalance"]),
        n_iter=cfg["n_iter"],
        scoring="average_precision",
        cv=stratified_cv(n_splits=cfg["cv_folds"], seed=SEED),
        random_state=SEED,
        refit=True,
        error_score="raise",
    )
    X, y = xy(train)
    search.fit(X, y)
    best = {k.removeprefix("model__"): _plain(v) for k, v in search.best_params_.items()}
    return search.best_estimator_, {
        "family": cfg["estimator"],
        "chosen": f"{cfg['estimator']} ({cfg['imbalance']}) {best}",
        "cv_average_precision": float(search.best_score_),
        "configurations": len(search.cv_results_["params"]),
    }


def automl(train: pd.DataFrame) -> tuple[Any, dict[str, Any]]:
    """fit_automl with the default estimator families and a 60 s search budget."""
    pipeline, info = fit_automl(train, time_budget=AUTOML_BUDGET, seed=SEED)
    return pipeline, {
        "family": info["best_estimator"],
        "chosen": f"{info['best_estimator']} ({info['model_class']}), {info['n_trials']} trials",
        "cv_average_precision": info["best_score"],
        "best_config": info["best_config"],
        "cv_ap_per_estimator": info["best_score_per_estimator"],
        "search_seconds": info["search_time"],
        "refit_seconds": info["refit_time"],
    }


CANDIDATES: dict[str, Trainer] = {
    "custom (defaults)": custom_default,
    "custom (random search)": custom_search,
    "automl (FLAML 60 s)": automl,
}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _weights(y: pd.Series, legit_weight: float) -> np.ndarray | None:
    return None if legit_weight == 1.0 else np.where(y.to_numpy() == 0, legit_weight, 1.0)


def run_candidate(
    trainer: Trainer,
    fit_rows: pd.DataFrame,
    threshold_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
    *,
    legit_weight: float = 1.0,
) -> dict[str, Any]:
    """Train, choose the best-F1 threshold on ``threshold_rows``, measure on ``test_rows``."""
    start = time.perf_counter()
    model, about = trainer(fit_rows)
    seconds = time.perf_counter() - start
    Xv, yv = xy(threshold_rows)
    Xt, yt = xy(test_rows)
    threshold = choose_threshold(
        yv,
        model.predict_proba(Xv)[:, 1],
        strategy="best_f1",
        sample_weight=_weights(yv, legit_weight),
    )
    metrics = evaluate(
        yt, model.predict_proba(Xt)[:, 1], threshold, sample_weight=_weights(yt, legit_weight)
    )
    keep = ("average_precision", "roc_auc", "precision", "recall", "f1", "threshold")
    return {**{k: float(metrics[k]) for k in keep}, "train_seconds": seconds, **about}


def synthetic() -> dict[str, Any]:
    """Every candidate on the full-size generated data, time-split."""
    parts = time_split(generate(rows=FULL_ROWS, seed=SEED))
    results = {}
    for name, trainer in CANDIDATES.items():
        print(f"synthetic: {name} ...", flush=True)
        results[name] = run_candidate(trainer, parts.train, parts.valid, parts.test)
        print(f"synthetic: {name}: {_brief(results[name])}", flush=True)
    return {
        "rows": {k: len(v) for k, v in parts._asdict().items()},
        "frauds": {k: int(v[TARGET].sum()) for k, v in parts._asdict().items()},
        "candidates": results,
    }


def real(sample: pd.DataFrame) -> dict[str, Any]:
    """Every candidate on the real sample, stratified folds, full-population weights."""
    X, y = xy(sample)
    folds: dict[str, list[dict[str, Any]]] = {name: [] for name in CANDIDATES}
    for k, (train_idx, test_idx) in enumerate(stratified_cv(REAL_FOLDS, SEED).split(X, y)):
        train, test = sample.iloc[train_idx], sample.iloc[test_idx]
        fit_rows, threshold_rows = train_test_split(
            train, test_size=0.2, stratify=train[TARGET], random_state=SEED
        )
        for name, trainer in CANDIDATES.items():
            result = run_candidate(
                trainer, fit_rows, threshold_rows, test, legit_weight=REAL_LEGIT_WEIGHT
            )
            folds[name].append(result)
            print(f"real fold {k + 1}/{REAL_FOLDS}: {name}: {_brief(result)}", flush=True)
    return {"rows": len(sample), "frauds": int(y.sum()), "folds": REAL_FOLDS, "candidates": folds}


def _brief(result: dict[str, Any]) -> str:
    return (
        f"AP {result['average_precision']:.3f}, ROC-AUC {result['roc_auc']:.3f}, "
        f"F1 {result['f1']:.3f}, {result['train_seconds']:.0f}s, {result['chosen']}"
    )


def _summary(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over folds of each figure."""
    out: dict[str, Any] = {}
    for key in ("average_precision", "roc_auc", "precision", "recall", "f1", "train_seconds"):
        values = [fold[key] for fold in per_fold]
        out[key] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    out["chosen"] = ", ".join(fold["family"] for fold in per_fold)
    return out


def markdown(figures: dict[str, Any]) -> str:
    columns = ["candidate", "AP", "ROC-AUC", "precision", "recall", "F1", "train s", "chosen"]
    lines = ["# AutoML (FLAML) against custom ML", ""]
    syn = figures["synthetic"]
    lines += [
        f"## Synthetic, full size (test part: {syn['rows']['test']:,} newest rows, "
        f"{syn['frauds']['test']} frauds)",
        "",
        "Trained on the time-split train part, best-F1 threshold on the valid part.",
        "",
        table([_row(name, r) for name, r in syn["candidates"].items()], columns),
        "",
    ]
    if "real" in figures:
        real_figures = figures["real"]
        rows = []
        for name, per_fold in real_figures["candidates"].items():
            s = _summary(per_fold)
            rows.append(
                {
                    **_row(name, s),
                    **{
                        label: f"{s[key]:.3f} ± {s[key + '_std']:.3f}"
                        for label, key in (
                            ("AP", "average_precision"),
                            ("ROC-AUC", "roc_auc"),
                            ("F1", "f1"),
                        )
                    },
                }
            )
        lines += [
            f"## Real sample ({real_figures['rows']:,} rows, {real_figures['frauds']} frauds), "
            f"{real_figures['folds']} stratified folds, mean ± std",
            "",
            f"Legitimate rows weighted by {REAL_LEGIT_WEIGHT:.2f} (full-population estimates); "
            "in each fold 80 % of the training rows fit the model and 20 % choose the threshold. "
            "`chosen` lists each fold's model.",
            "",
            table(rows, columns),
            "",
        ]
    else:
        lines += [f"Real sample not found at {REAL_SAMPLE}: that part was skipped.", ""]
    lines += [
        f"Custom settings from params.yaml `train_custom`: {figures['custom_settings']}. "
        f"AutoML: `fit_automl(time_budget={AUTOML_BUDGET:g})`, FLAML searches for the budget, then "
        "the best model is refitted (training seconds include the refits). "
        f"1-minute load average {figures['load_average_at_start']:.1f} at the start and "
        f"{figures['load_average_at_end']:.1f} at the end (2 cores): training seconds grow with it.",
    ]
    return "\n".join(lines)


def _row(name: str, r: dict[str, Any]) -> dict[str, Any]:
    return {
        "candidate": name,
        "AP": r["average_precision"],
        "ROC-AUC": r["roc_auc"],
        "precision": r["precision"],
        "recall": r["recall"],
        "F1": r["f1"],
        "train s": f"{r['train_seconds']:.0f}",
        "chosen": r["chosen"],
    }


def main() -> None:
    # Training seconds depend on what else the 2 cores are doing: say how busy they were.
    figures: dict[str, Any] = {
        "load_average_at_start": os.getloadavg()[0],
        "custom_settings": _custom_settings(),
        "automl_budget_seconds": AUTOML_BUDGET,
        "synthetic": synthetic(),
    }
    if REAL_SAMPLE.is_file():
        sample = load(REAL_SAMPLE).sort_values("Time", kind="stable").reset_index(drop=True)
        figures["real"] = real(sample)
    figures["load_average_at_end"] = os.getloadavg()[0]
    path = write("automl_vs_custom", figures, markdown(figures))
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
