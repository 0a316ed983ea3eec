"""Custom ML against AutoML at equal budgets: test AP against the seconds each side was given.

Both sides get one :class:`fraudops.budget.Budget` per point of the curve: the same wall
seconds (search and final fit), the same folds, and the same cap on trials (set high, so the
clock is what binds). The custom side is what the Level 1 pipeline trains (``params.yaml``
section ``train_custom``: its estimator and imbalance handling, a random search over
:func:`fraudops.models.search_space` by :func:`fraudops.budget.random_search`); AutoML is
:func:`fraudops.automl.fit_automl` over the pipeline's estimator families
(``train_automl.estimator_list``). The operating threshold is the pipeline's rule (section
``threshold``, stable margin included), chosen on rows neither side trained on.

* **synthetic**: ``generate(FULL_ROWS, seed=0)`` cut by :func:`fraudops.split.time_split`:
  train, threshold on valid, measure on the test part (the newest rows). The AP difference
  comes with a paired bootstrap interval over the test rows.
* **real**: the genuine sample (492 frauds, 4,920 legitimate rows) in 5 stratified folds; in
  each fold 80 % of the training rows fit and 20 % choose the threshold. Legitimate rows weigh
  57.79 in every figure (full-population estimates). The AP difference is the mean of the
  folds' differences; its interval resamples the held-out rows within each fold.

Each point reports test AP, precision and recall at the threshold, the trials and fits each side
managed, and the seconds it took. ``automl_vs_custom.png`` plots AP against budget.

    python -m benchmarks automl_vs_custom     # about 15 minutes on 2 cores
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fraudops.automl import fit_automl
from fraudops.budget import Budget, random_search
from fraudops.data import generate, load
from fraudops.metrics import ap_difference, evaluate
from fraudops.models import make_model, search_space
from fraudops.params import load_params
from fraudops.schema import FULL_ROWS, TARGET
from fraudops.split import stratified_cv, time_split, xy
from fraudops.thresholds import choose_threshold
from sklearn.model_selection import train_test_split

from benchmarks._real import REAL_LEGIT_WEIGHT, REAL_SAMPLE
from benchmarks._results import RESULTS, table, write
from benchmarks.generator import generator_seconds

ROOT = Path(__file__).resolve().parents[1]
#: Seconds per side at each point of the curve: a few seconds to a few minutes.
SYNTHETIC_BUDGETS = (5, 15, 45, 120)
#: The real sample is 50 times smaller: the same range of fits takes a tenth of the seconds.
REAL_BUDGETS = (1, 3, 9, 27)
#: A cap on trials far above what fits in the seconds: the clock is the budget that binds.
TRIALS = 1000
REAL_FOLDS = 5
SEED = 0
METHODS = ("custom", "automl")


def settings() -> dict[str, Any]:
    """The Level 1 pipeline's sections the benchmark trains with."""
    params = load_params(ROOT / "params.yaml")
    return {k: params[k] for k in ("budget", "train_custom", "train_automl", "threshold")}


def fit(method: str, train: pd.DataFrame, budget: Budget, cfg: dict[str, Any]):
    """One side within ``budget``: the fitted pipeline and what it spent."""
    if method == "custom":
        custom = cfg["train_custom"]
        x, y = xy(train)
        result = random_search(
            make_model(custom["estimator"], custom["imbalance"], seed=SEED),
            search_space(custom["estimator"], custom["imbalance"]),
            x,
            y,
            budget=budget,
            search=custom["search"],
            seed=SEED,
        )
        spent = result.spent
        return result.model, {
            "trials": spent.trials,
            "fits": spent.fits,
            "seconds": spent.seconds,
            "chosen": f"{custom['estimator']} {result.best_params}",
        }
    start = time.perf_counter()
    model, info = fit_automl(
        train,
        time_budget=budget.seconds,
        max_iter=budget.trials,
        estimator_list=cfg["train_automl"]["estimator_list"],
        n_splits=budget.cv_folds,
        seed=SEED,
    )
    return model, {
        "trials": info["n_trials"],
        "fits": info["n_trials"] * budget.cv_folds,
        "seconds": time.perf_counter() - start,
        "chosen": f"{info['best_estimator']} {info['best_config']}",
    }


def _weights(y: np.ndarray, legit_weight: float) -> np.ndarray | None:
    return None if legit_weight == 1.0 else np.where(y == 0, legit_weight, 1.0)


def measure(
    method: str,
    budget: Budget,
    cfg: dict[str, Any],
    fit_rows: pd.DataFrame,
    threshold_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
    legit_weight: float = 1.0,
) -> dict[str, Any]:
    """Fit one side, choose its threshold on ``threshold_rows``, measure on ``test_rows``."""
    model, spent = fit(method, fit_rows, budget, cfg)
    xv, yv = xy(threshold_rows)
    xt, yt = xy(test_rows)
    rule = cfg["threshold"]
    threshold = choose_threshold(
        yv.to_numpy(),
        model.predict_proba(xv)[:, 1],
        sample_weight=_weights(yv.to_numpy(), legit_weight),
        **rule,
    )
    scores = model.predict_proba(xt)[:, 1]
    m = evaluate(yt, scores, threshold, sample_weight=_weights(yt.to_numpy(), legit_weight))
    return {
        "average_precision": m["average_precision"],
        "precision": m["precision"],
        "recall": m["recall"],
        "threshold": threshold,
        **spent,
        "scores": scores,
    }


def synthetic(cfg: dict[str, Any]) -> dict[str, Any]:
    """Both sides at every budget on full-size generated data, time-split."""
    parts = time_split(generate(rows=FULL_ROWS, seed=SEED))
    y_test = parts.test[TARGET].to_numpy()
    points = []
    for seconds in SYNTHETIC_BUDGETS:
        budget = Budget(seconds=seconds, trials=TRIALS, cv_folds=cfg["budget"]["cv_folds"])
        point: dict[str, Any] = {"seconds": seconds}
        for method in METHODS:
            result = measure(method, budget, cfg, parts.train, parts.valid, parts.test)
            point[method] = {k: v for k, v in result.items() if k != "scores"}
            point[f"_{method}_scores"] = result["scores"]
            print(f"synthetic {seconds:>4}s {method:>6}: {_brief(point[method])}", flush=True)
        point["difference"] = ap_difference(
            y_test, point.pop("_custom_scores"), point.pop("_automl_scores"), seed=SEED
        )
        points.append(point)
    return {
        "rows": {k: len(v) for k, v in parts._asdict().items()},
        "frauds": {k: int(v[TARGET].sum()) for k, v in parts._asdict().items()},
        "points": points,
    }


def real(sample: pd.DataFrame, cfg: dict[str, Any]) -> dict[str, Any]:
    """Both sides at every budget on the real sample: stratified folds, weighted figures."""
    x, y = xy(sample)
    folds = list(stratified_cv(REAL_FOLDS, SEED).split(x, y))
    points = []
    for seconds in REAL_BUDGETS:
        budget = Budget(seconds=seconds, trials=TRIALS, cv_folds=cfg["budget"]["cv_folds"])
        per_fold: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
        pooled = {m: np.zeros(len(sample)) for m in METHODS}
        fold_of = np.zeros(len(sample), dtype=int)
        for k, (train_idx, test_idx) in enumerate(folds):
            train, test = sample.iloc[train_idx], sample.iloc[test_idx]
            fold_of[test_idx] = k
            fit_rows, threshold_rows = train_test_split(
                train, test_size=0.2, stratify=train[TARGET], random_state=SEED
            )
            for method in METHODS:
                result = measure(
                    method, budget, cfg, fit_rows, threshold_rows, test, REAL_LEGIT_WEIGHT
                )
                pooled[method][test_idx] = result.pop("scores")
                per_fold[method].append(result)
                print(
                    f"real {seconds:>3}s fold {k + 1}/{REAL_FOLDS} {method:>6}: {_brief(result)}",
                    flush=True,
                )
        y_all = y.to_numpy()
        point: dict[str, Any] = {"seconds": seconds}
        for method in METHODS:
            point[method] = _summary(per_fold[method])
        point["difference"] = ap_difference(
            y_all,
            pooled["custom"],
            pooled["automl"],
            sample_weight=_weights(y_all, REAL_LEGIT_WEIGHT),
            seed=SEED,
            groups=fold_of,
        )
        points.append(point)
    return {"rows": len(sample), "frauds": int(y.sum()), "folds": REAL_FOLDS, "points": points}


def _brief(result: dict[str, Any]) -> str:
    return (
        f"AP {result['average_precision']:.3f}, P {result['precision']:.3f} "
        f"R {result['recall']:.3f}, {result['trials']} trials, {result['seconds']:.0f}s"
    )


def _summary(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over folds of each figure, with the spread of AP."""
    out: dict[str, Any] = {
        key: statistics.fmean(fold[key] for fold in per_fold)
        for key in ("average_precision", "precision", "recall", "trials", "fits", "seconds")
    }
    out["average_precision_std"] = statistics.stdev(f["average_precision"] for f in per_fold)
    return out


def _verdict(d: dict[str, Any]) -> str:
    side = {"a": "custom", "b": "AutoML", "tie": "neither"}[d["verdict"]]
    return f"{d['difference']:+.3f} ({d['low']:+.3f} .. {d['high']:+.3f}): {side}"


def _rows(points: list[dict[str, Any]], spread: bool) -> list[dict[str, Any]]:
    rows = []
    for p in points:
        row: dict[str, Any] = {"budget s": p["seconds"]}
        for method in METHODS:
            r = p[method]
            ap = f"{r['average_precision']:.3f}"
            if spread:
                ap += f" ± {r['average_precision_std']:.3f}"
            row[f"{method} AP"] = ap
            row[f"{method} P / R"] = f"{r['precision']:.2f} / {r['recall']:.2f}"
            row[f"{method} trials (fits)"] = f"{r['trials']:.0f} ({r['fits']:.0f})"
            row[f"{method} s"] = f"{r['seconds']:.0f}"
        row["AP custom - AutoML (95 %): better"] = _verdict(p["difference"])
        rows.append(row)
    return rows


def plot(figures: dict[str, Any], path: Path) -> Path:
    """Test AP against budget, one panel per data set, both sides in each."""
    from matplotlib.figure import Figure

    panels = [("synthetic", "Synthetic, full size (time split)")]
    if "real" in figures:
        panels.append(("real", "Real sample (5 folds, weighted)"))
    fig = Figure(figsize=(5.2 * len(panels), 3.8), layout="constrained")
    for i, (key, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        points = figures[key]["points"]
        budgets = [p["seconds"] for p in points]
        for method, label in (("custom", "custom search"), ("automl", "AutoML (FLAML)")):
            ap = [p[method]["average_precision"] for p in points]
            err = [p[method].get("average_precision_std", 0.0) for p in points]
            ax.errorbar(budgets, ap, yerr=err, marker="o", capsize=3, label=label)
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
        ax.set_xlabel("budget per side (seconds, search and final fit)")
        ax.set_ylabel("test average precision")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.savefig(path, dpi=110)
    return path


def markdown(figures: dict[str, Any]) -> str:
    syn = figures["synthetic"]
    cfg = figures["settings"]
    lines = [
        "# Custom ML against AutoML at equal budgets",
        "",
        f"Generator figure {figures['generator_seconds']:.2f} s (`python -m benchmarks "
        "generator`, the fraudops row); 1-minute load average "
        f"{figures['load_average_at_start']:.1f} at the start, "
        f"{figures['load_average_at_end']:.1f} at the end (2 cores). Each side gets the same "
        f"budget at each point: the seconds in the first column (search and final fit), "
        f"{cfg['budget']['cv_folds']}-fold stratified CV per trial, at most {TRIALS} trials "
        f"(the clock binds). Custom: `{cfg['train_custom']}`; AutoML: FLAML over "
        f"{cfg['train_automl']['estimator_list']}. Threshold rule: `{cfg['threshold']}`.",
        "",
        "![test AP against budget](automl_vs_custom.png)",
        "",
        f"## Synthetic, full size (test part: {syn['rows']['test']:,} newest rows, "
        f"{syn['frauds']['test']} frauds)",
        "",
        "Trained on the time-split train part, threshold on the valid part. The last column is "
        "the AP difference with its paired bootstrap interval over the test rows, and which "
        "side is better when the interval excludes zero.",
        "",
        table(_rows(syn["points"], spread=False), list(_rows(syn["points"], False)[0])),
        "",
    ]
    if "real" in figures:
        r = figures["real"]
        lines += [
            f"## Real sample ({r['rows']:,} rows, {r['frauds']} frauds), {r['folds']} stratified "
            "folds",
            "",
            f"Legitimate rows weighted by {REAL_LEGIT_WEIGHT:.2f}. AP is the mean ± std over "
            "folds; precision, recall, trials and seconds are means. The AP difference is the mean "
            "of the folds' differences; its interval resamples held-out rows within each fold.",
            "",
            table(_rows(r["points"], spread=True), list(_rows(r["points"], True)[0])),
            "",
        ]
    else:
        lines += [f"Real sample not found at {REAL_SAMPLE}: that part was skipped.", ""]
    return "\n".join(lines)


def main() -> None:
    cfg = settings()
    figures: dict[str, Any] = {
        "generator_seconds": generator_seconds(),
        "load_average_at_start": os.getloadavg()[0],
        "settings": cfg,
        "synthetic": synthetic(cfg),
    }
    if REAL_SAMPLE.is_file():
        sample = load(REAL_SAMPLE).sort_values("Time", kind="stable").reset_index(drop=True)
        figures["real"] = real(sample, cfg)
    figures["load_average_at_end"] = os.getloadavg()[0]
    plot(figures, RESULTS / "automl_vs_custom.png")
    path = write("automl_vs_custom", figures, markdown(figures))
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
