"""Level 0: train a fraud model by hand and write ``level0/model.joblib``.

This is how many teams start: one script, run on a laptop, that reads a CSV, trains, prints a
few numbers and leaves a model file that someone copies to the serving team. Nothing records
which data, code or parameters made the file; that is what Level 1 fixes.

Usage:
    python level0/train.py data/creditcard.csv [--out level0/model.joblib]
        [--estimator hist_gb] [--imbalance class_weight]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import joblib
from fraudops.data import load, validate_frame
from fraudops.metrics import evaluate
from fraudops.models import ESTIMATORS, IMBALANCE, make_model
from fraudops.split import time_split, xy
from fraudops.thresholds import choose_threshold

HERE = Path(__file__).resolve().parent


def train(data_path: Path, estimator: str, imbalance: str, seed: int = 0) -> dict:
    """Train on the older rows of a CSV, pick a threshold, and measure on the newest rows.

    Args:
        data_path: a ``creditcard.csv``-shaped file.
        estimator: one of ``fraudops.models.ESTIMATORS``.
        imbalance: one of ``fraudops.models.IMBALANCE``.
        seed: random seed for the model.

    Returns:
        The bundle that is written to disk: model, threshold, test metrics and a note of what
        made it (the only lineage Level 0 has is what someone types here).
    """
    df = load(data_path)
    report = validate_frame(df)
    if not report.ok:
        raise SystemExit(f"{data_path} is not valid training data:\n{report.format()}")
    parts = time_split(df)
    print(
        f"rows: train {len(parts.train):,}  valid {len(parts.valid):,}  test {len(parts.test):,}",
        flush=True,
    )
    model = make_model(estimator, imbalance, seed=seed)
    start = time.perf_counter()
    model.fit(*xy(parts.train))
    seconds = time.perf_counter() - start
    x_valid, y_valid = xy(parts.valid)
    threshold = choose_threshold(y_valid, model.predict_proba(x_valid)[:, 1])
    x_test, y_test = xy(parts.test)
    metrics = evaluate(y_test, model.predict_proba(x_test)[:, 1], threshold)
    return {
        "model": model,
        "threshold": threshold,
        "metrics": metrics,
        "trained_on": str(data_path),
        "estimator": estimator,
        "imbalance": imbalance,
        "train_seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="training CSV (creditcard.csv schema)")
    parser.add_argument("--out", type=Path, default=HERE / "model.joblib", help="model file")
    parser.add_argument("--estimator", choices=ESTIMATORS, default="hist_gb")
    parser.add_argument("--imbalance", choices=IMBALANCE, default="class_weight")
    args = parser.parse_args(argv)

    print(f"training {args.estimator} ({args.imbalance}) on {args.data} ...", flush=True)
    bundle = train(args.data, args.estimator, args.imbalance)
    m = bundle["metrics"]
    print(f"trained in {bundle['train_seconds']:.1f}s; test set (newest rows):")
    print(f"  average precision {m['average_precision']:.3f}   ROC-AUC {m['roc_auc']:.4f}")
    print(
        f"  at threshold {m['threshold']:.3f}: precision {m['precision']:.3f}  "
        f"recall {m['recall']:.3f}  F1 {m['f1']:.3f}  "
        f"(TP {m['tp']:.0f}, FP {m['fp']:.0f}, FN {m['fn']:.0f})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(bundle, args.out)
    print(f"wrote {args.out}: hand it to whoever runs predictions (level0/predict.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
