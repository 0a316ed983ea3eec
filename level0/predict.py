"""Level 0: score a CSV with the hand-delivered ``level0/model.joblib``.

Writes the input rows with two more columns, ``fraud_probability`` and ``is_fraud`` (at the
threshold stored with the model). Batch only: Level 0 has no service, no log of what was
scored and no way to learn whether a prediction was right.

Usage:
    python level0/predict.py transactions.csv --out scored.csv [--model level0/model.joblib]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import joblib
from fraudops.data import load, save
from fraudops.schema import FEATURES

HERE = Path(__file__).resolve().parent


def score(bundle: dict, data_path: Path):
    """Return the rows of ``data_path`` with ``fraud_probability`` and ``is_fraud`` added."""
    df = load(data_path)
    missing = [c for c in FEATURES if c not in df.columns]
    if missing:
        raise SystemExit(f"{data_path}: missing column(s) {missing}")
    out = df.copy()
    out["fraud_probability"] = bundle["model"].predict_proba(df[list(FEATURES)])[:, 1]
    out["is_fraud"] = (out["fraud_probability"] >= bundle["threshold"]).astype(int)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="CSV (or Parquet) with Time, V1..V28, Amount")
    parser.add_argument("--out", type=Path, required=True, help="where to write the scored rows")
    parser.add_argument("--model", type=Path, default=HERE / "model.joblib")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        raise SystemExit(f"{args.model} not found: run level0/train.py first")
    scored = score(joblib.load(args.model), args.data)
    save(scored, args.out)
    flagged = int(scored["is_fraud"].sum())
    print(f"scored {len(scored):,} rows, flagged {flagged:,} as fraud -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
