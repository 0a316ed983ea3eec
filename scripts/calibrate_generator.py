"""Derive the synthetic generator's calibration table from the real sample.

The generator (``fraudops.data.generate``) draws each class from a Gaussian copula: a latent
normal vector with a given correlation is pushed through per-feature quantile tables. This script
measures those summaries on the genuine rows in ``../shared/data/real/creditcard_sample.csv``
(beside the project; never copied into it) and writes them to
``shared/fraudops/data/calibration.json``:

- per class, the quantiles of ``V1..V28`` and ``log1p(Amount)`` at fixed probabilities;
- for legitimate rows, the normal-score correlation of ``log1p(Amount)`` with each V feature
  (the V features are uncorrelated with each other in the real data);
- for frauds, a low-rank factor model of the normal-score correlation (frauds move together
  along a few directions: the strongest is a "severity" axis shared by V3, V10, V12, V14, V17).

Only these summary numbers are stored, no rows. Run it again after changing the method:

    .venv/bin/python scripts/calibrate_generator.py [PATH_TO_SAMPLE]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared/data/real/creditcard_sample.csv"
OUT = ROOT / "shared/fraudops/data/calibration.json"
COLS = [f"V{i}" for i in range(1, 29)] + ["log_amount"]
#: Quantile probabilities: dense in the tails, where fraud and heavy legit tails live.
PROBS = [
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.975,
    0.99,
    0.995,
    0.999,
]
FACTORS = 4


def normal_scores(x: np.ndarray) -> np.ndarray:
    """Map a column to standard-normal scores through its ranks (the copula's latent space)."""
    return stats.norm.ppf(stats.rankdata(x) / (len(x) + 1))


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    df = pd.read_csv(path).drop_duplicates()
    df["log_amount"] = np.log1p(df["Amount"])
    out: dict = {
        "source": "creditcard_sample.csv (ULB/Kaggle, ODbL): summaries only",
        "probs": PROBS,
        "columns": COLS,
    }
    for cls, name in ((0, "legit"), (1, "fraud")):
        g = df[df["Class"] == cls]
        out[name] = {
            "n": len(g),
            "quantiles": {c: np.quantile(g[c], PROBS).round(5).tolist() for c in COLS},
            "min": {c: round(float(g[c].min()), 5) for c in COLS},
            "max": {c: round(float(g[c].max()), 5) for c in COLS},
        }
        z = np.column_stack([normal_scores(g[c].to_numpy()) for c in COLS])
        corr = np.corrcoef(z, rowvar=False)
        if name == "legit":
            out[name]["amount_corr"] = corr[-1, :-1].round(4).tolist()
        else:
            values, vectors = np.linalg.eigh(corr)
            top = np.argsort(values)[::-1][:FACTORS]
            loadings = vectors[:, top] * np.sqrt(values[top])
            # Loadings can't explain more than all of a feature's variance.
            norms = np.linalg.norm(loadings, axis=1, keepdims=True)
            loadings = loadings / np.maximum(norms / 0.97, 1.0)
            out[name]["loadings"] = loadings.round(4).tolist()
        fraud_hours = ((g["Time"] % 86_400) // 3_600).value_counts(normalize=True)
        out[name]["hour_share"] = [round(float(fraud_hours.get(h, 0.0)), 5) for h in range(24)]
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
