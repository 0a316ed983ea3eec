"""Derive the synthetic generator's calibration table from the real sample.

The generator (``fraudops.data.generate``) draws each class from a *Gaussian-mixture copula*:
a latent vector from a mixture of multivariate normals, turned into normal scores feature by
feature, then pushed through per-feature quantile tables. This script measures those summaries
on the genuine rows in ``../shared/data/real/creditcard_sample.csv`` (beside the project; never
copied into it) and writes them to ``shared/fraudops/data/calibration.json``:

- per class, the quantiles of ``V1..V28`` and ``log1p(Amount)`` at fixed probabilities (dense in
  the tails), so every marginal is the real one;
- per class, a Gaussian mixture fitted to the rank-based normal scores of those 29 columns.
  The V features are uncorrelated (they are PCA components) but far from independent:
  legitimate traffic sits on curved, clustered shapes that a single correlation matrix cannot
  hold, and a tree tells such data from a copula with independent components at once
  (discriminator ROC-AUC 0.998 with the earlier one-correlation copula). The mixture's
  components follow those shapes; for frauds, they hold the known signature (low V14, V12,
  V10, V17, V3; high V4, V11) from mild to extreme;
- per class, the share of whole-unit amounts (``9.00``): a fifth of real legitimate amounts;
- per class, the hourly profile of ``Time``.

Only these summary numbers are stored: mixture weights, means and Cholesky factors (each
component summarises about 80 legitimate or 60 fraudulent rows), no rows. Run it again after
changing the method:

    .venv/bin/python scripts/calibrate_generator.py [PATH_TO_SAMPLE]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.mixture import GaussianMixture

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared/data/real/creditcard_sample.csv"
OUT = ROOT / "shared/fraudops/data/calibration.json"
COLS = [f"V{i}" for i in range(1, 29)] + ["log_amount"]
#: Quantile probabilities: every percentile, denser in the tails.
PROBS = [0.0005, 0.001, 0.0025, 0.005, *np.arange(1, 100) / 100, 0.995, 0.9975, 0.999, 0.9995]
#: Mixture components per class. More follow the shapes more closely (discriminator ROC-AUC on
#: legitimate rows: 0.91 with 20, 0.83 with 60) and store more numbers; 60 keeps about 80 rows
#: per legitimate component, 8 about 60 per fraud component.
COMPONENTS = {"legit": 60, "fraud": 8}
#: Added to each component's covariance diagonal (in normal-score units): keeps components
#: fitted on few rows from collapsing onto them.
REG_COVAR = 1e-2


def normal_scores(x: np.ndarray) -> np.ndarray:
    """Map a column to standard-normal scores through its ranks (the copula's latent space)."""
    return stats.norm.ppf(stats.rankdata(x) / (len(x) + 1))


def mixture(z: np.ndarray, components: int) -> dict:
    """Fit a full-covariance Gaussian mixture to normal scores; return its stored form."""
    gm = GaussianMixture(
        components, covariance_type="full", reg_covar=REG_COVAR, random_state=0, max_iter=500
    ).fit(z)
    lower = np.tril_indices(z.shape[1])
    return {
        "weights": gm.weights_.round(6).tolist(),
        "means": gm.means_.round(5).tolist(),
        # Lower triangles of the Cholesky factors, row by row: sampling needs only these.
        "chol": [np.linalg.cholesky(c)[lower].round(5).tolist() for c in gm.covariances_],
    }


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    # Duplicated rows stay: the real data has them (a repeated fraud pattern among them), and
    # so must the class means the generator reproduces.
    df = pd.read_csv(path)
    df["Class"] = df["Class"].astype(str).str.strip('"').astype(int)
    df["log_amount"] = np.log1p(df["Amount"])
    out: dict = {
        "source": "creditcard_sample.csv (ULB/Kaggle, ODbL): summaries only",
        "columns": COLS,
    }
    for cls, name in ((0, "legit"), (1, "fraud")):
        g = df[df["Class"] == cls]
        z = np.column_stack([normal_scores(g[c].to_numpy()) for c in COLS])
        hours = ((g["Time"] % 86_400) // 3_600).value_counts(normalize=True)
        # Knots only where the rows can say something: 473 frauds know nothing of the 0.05 %
        # tail. The outermost knots are the sample's minimum and maximum, at the probabilities
        # their ranks give them, so a few extreme real rows (fraud V8 reaches -41) still shape
        # the tails, and so the class means.
        n = len(g)
        inner = [p for p in PROBS if 1 / (n + 1) < p < n / (n + 1)]
        probs = [1 / (n + 1), *inner, n / (n + 1)]
        quantiles = {c: [g[c].min(), *np.quantile(g[c], inner), g[c].max()] for c in COLS}
        out[name] = {
            "n": n,
            "probs": [round(float(p), 7) for p in probs],
            "quantiles": {c: np.round(q, 5).tolist() for c, q in quantiles.items()},
            "whole_amount_share": round(float(np.isclose(g["Amount"] % 1, 0).mean()), 4),
            "mixture": mixture(z, COMPONENTS[name]),
            "hour_share": [round(float(hours.get(h, 0.0)), 5) for h in range(24)],
        }
        print(f"{name}: {len(g):,} rows, {COMPONENTS[name]} components", flush=True)
    OUT.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
