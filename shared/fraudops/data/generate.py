"""Synthetic transactions with the exact ``creditcard.csv`` schema.

Each class is drawn from a *Gaussian-mixture copula*: a latent vector from a mixture of
multivariate normals (the class's dependence structure) is turned into normal scores feature by
feature, then pushed through that class's quantile tables. The marginals are therefore the real
ones (skewed, heavy-tailed V features; Amount with many tiny fraud "test charges", its
recurring price points such as 1.00, 1.98, 9.99 or 99.99, and a fifth of legitimate amounts in
whole units), and so are the dependencies that matter:

- legitimate rows: the V features are uncorrelated (PCA components) but not independent; the
  mixture's components follow the curved, clustered shapes the real rows sit on, and
  ``log1p(Amount)`` moves with V2, V5, V7, V20 ... as in the real data;
- frauds: the known signature (low V14, V12, V10, V17, V3; high V4, V11) moves together, from
  frauds that look almost legitimate to extreme ones. Independent marginals would let trees
  learn shapes real frauds do not have.

The quantiles, price points and mixtures (150 components for legitimate rows, 8 for frauds)
are summaries of the genuine rows in the real sample, measured by
``scripts/calibrate_generator.py`` into ``calibration.json`` beside this file (no rows are
stored). A fixed 30 % of the distinct real rows of each class is left out of them
(:func:`held_out`), so realism can be measured on rows the calibration never saw. ``Time`` spans two days from ``start_time``; legitimate volume drops
about 5x between 1 and 6 am (``Time % 86400`` is the time of day, 0 = midnight), frauds keep
their own, flatter, hourly profile.

Scenarios, for the later levels' drift tests:

- ``covariate``: legitimate traffic changes (amounts inflate 1.6x, twelve V features shift by
  half a spread); frauds look as before.
- ``concept``: a new fraud pattern. The new frauds look legitimate on the known signature
  features and instead stand out on V13, V15, V22, V23, V25, V26 (which barely differ between
  the classes in the original data) with mid-sized amounts, so a model trained before it misses
  them, and a model retrained on labeled examples catches them.
- ``both``: the two at once.
"""

from __future__ import annotations

import json
import zlib
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from fraudops.schema import (
    AMOUNT,
    COLUMNS,
    DAY_SECONDS,
    FULL_FRAUD_RATE,
    FULL_ROWS,
    SCENARIOS,
    TARGET,
    TIME,
)

#: The latent columns, in calibration order: V1..V28 then log1p(Amount).
_LATENT = [*(f"V{i}" for i in range(1, 29)), "log_amount"]
_DAYS = 2
#: Covariate shift: these V features move by half a (latent) spread for legitimate rows.
COVARIATE_SHIFTED = ("V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "V10", "V11", "V12")
COVARIATE_SHIFT = 0.5
COVARIATE_AMOUNT_FACTOR = 1.6
#: Concept drift: the new fraud pattern's signature (latent shifts, in spreads).
CONCEPT_SIGNATURE = {"V13": 3.5, "V15": -3.5, "V22": 3.5, "V23": -3.0, "V25": 3.0, "V26": 3.5}
#: Share of frauds that follow the new pattern after the drift.
CONCEPT_SHARE = 0.7


@lru_cache(maxsize=1)
def calibration() -> dict:
    """The calibration table (quantiles, correlations, loadings, hourly profiles)."""
    text = resources.files("fraudops.data").joinpath("calibration.json").read_text()
    return json.loads(text)


def held_out(real: pd.DataFrame, share: float | None = None) -> np.ndarray:
    """Which rows of a real sample the calibration left out (a fixed share of each class).

    A row is held out when a hash of its ``Time``, ``V1`` and ``Amount`` falls in the first
    ``share`` of the hash range: the choice depends on the row alone, not on the file's order,
    and exact copies of a row fall on the same side.

    Args:
        real: rows with the ``creditcard.csv`` columns.
        share: the share to hold out; by default the one the calibration table was made with.

    Returns:
        A boolean mask, True for the held-out rows.
    """
    share = calibration()["holdout"] if share is None else share
    keys = zip(real[TIME].to_numpy(), real["V1"].to_numpy(), real[AMOUNT].to_numpy(), strict=True)
    return np.array(
        [zlib.crc32(f"{t:.0f}|{v:.6f}|{a:.2f}".encode()) < share * 2**32 for t, v, a in keys],
        dtype=bool,
    )


def _quantile_map(z: np.ndarray, probs_z: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Push latent normal scores through a quantile table.

    Inside the table: linear interpolation between quantiles. Beyond its ends: the slope of the
    outermost segment continues, so the tails stay heavy instead of being clipped at the most
    extreme quantile that a sample can estimate.
    """
    out = np.interp(z, probs_z, q)
    lo, hi = z < probs_z[0], z > probs_z[-1]
    slope_lo = (q[1] - q[0]) / (probs_z[1] - probs_z[0])
    slope_hi = (q[-1] - q[-2]) / (probs_z[-1] - probs_z[-2])
    out[lo] = q[0] + (z[lo] - probs_z[0]) * slope_lo
    out[hi] = q[-1] + (z[hi] - probs_z[-1]) * slope_hi
    return out


@lru_cache(maxsize=2)
def _mixture(cls: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The class's mixture: weights, means, Cholesky factors, and each feature's marginal CDF.

    The marginal CDF of feature j is the weighted sum of the components' normal CDFs; it is
    tabulated once on a grid so that turning draws into normal scores is one interpolation.
    """
    mix = calibration()[cls]["mixture"]
    weights = np.asarray(mix["weights"])
    weights = weights / weights.sum()
    means = np.asarray(mix["means"])
    k, d = means.shape
    chol = np.zeros((k, d, d))
    rows, cols = np.tril_indices(d)
    chol[:, rows, cols] = np.asarray(mix["chol"])
    spread = np.sqrt(np.einsum("kij,kij->ki", chol, chol))  # sqrt of each covariance diagonal
    grid = np.linspace(-10.0, 10.0, 4001)
    cdf = np.einsum(
        "k,kjg->jg",
        weights,
        ndtr((grid[None, None, :] - means[:, :, None]) / spread[:, :, None]),
    )
    return weights, means, chol, grid, cdf


def _latent(cls: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Normal scores (n x 29) with the class's dependence structure.

    Each row comes from one mixture component; each column is then mapped through the
    mixture's own marginal CDF and the normal quantile function, so every column is standard
    normal while the dependence between columns is the mixture's. Drift scenarios shift these
    scores: a shift of 1 moves a feature by one spread, whatever its real units.
    """
    weights, means, chol, grid, cdf = _mixture(cls)
    component = rng.choice(len(weights), size=n, p=weights)
    draws = rng.standard_normal((n, means.shape[1]))
    z = np.empty_like(draws)
    for k in np.unique(component):
        rows = component == k
        z[rows] = means[k] + draws[rows] @ chol[k].T
    for j in range(z.shape[1]):
        z[:, j] = ndtri(np.clip(np.interp(z[:, j], grid, cdf[j]), 1e-12, 1 - 1e-12))
    return z


def _features(cls: str, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map normal scores to V1..V28 and Amount through the class's quantile tables."""
    cal = calibration()
    probs_z = ndtri(np.asarray(cal[cls]["probs"]))
    out = np.empty_like(z)
    for j, col in enumerate(_LATENT):
        out[:, j] = _quantile_map(z[:, j], probs_z, np.asarray(cal[cls]["quantiles"][col]))
    # Heavy tails, but within what the real data shows (e.g. V5 reaches -113.7).
    out[:, :-1] = np.clip(out[:, :-1], -120.0, 120.0)
    amount = np.expm1(np.clip(out[:, -1], 0.0, np.log1p(25_691.16)))
    # Price points: a latent score that falls in the stretch of the empirical CDF that a
    # recurring real amount fills (1.00, 1.98, 0.89, 9.99 ...) gives exactly that amount, so the
    # amounts keep their place in the copula. Smooth draws have no such repeats, and a
    # discriminator on Amount alone told them from real legitimate rows (ROC-AUC 0.59).
    points = np.asarray(cal[cls]["price_points"]).reshape(-1, 3)
    u = ndtr(z[:, -1])
    k = np.searchsorted(points[:, 1], u, side="right") - 1
    at_point = (k >= 0) & (u < points[np.maximum(k, 0), 2]) if len(points) else u < 0
    # Prices in whole units (9.00, 100.00) are common in real traffic, rare in a smooth draw.
    whole = ~at_point & (rng.random(len(amount)) < cal[cls]["whole_amount_share"])
    amount[whole] = np.maximum(np.round(amount[whole]), 1.0)
    amount[at_point] = points[k[at_point], 0]
    out[:, -1] = np.round(amount, 2)
    return out


def _times(cls: str, n: int, rng: np.random.Generator, start_time: float) -> np.ndarray:
    """Seconds over two days from ``start_time``, following the class's hourly profile."""
    share = np.asarray(calibration()[cls]["hour_share"], dtype=float)
    share = share / share.sum()
    day = rng.integers(0, _DAYS, n)
    hour = rng.choice(24, size=n, p=share)
    # Time of day is measured from midnight, so production traffic that starts at an arbitrary
    # start_time keeps the day/night cycle of the wall clock.
    base = np.floor(start_time / DAY_SECONDS) * DAY_SECONDS
    t = base + day * DAY_SECONDS + hour * 3_600 + rng.uniform(0, 3_600, n)
    t = np.where(t < start_time, t + _DAYS * DAY_SECONDS, t)
    return np.floor(t)


def _check(rows: int, fraud_rate: float, scenario: str, start_time: float) -> None:
    if not isinstance(rows, int | np.integer) or rows < 1:
        raise ValueError(f"rows must be a positive integer, got {rows!r}")
    if not 0.0 <= fraud_rate <= 1.0:
        raise ValueError(f"fraud_rate must be between 0 and 1, got {fraud_rate!r}")
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    if not np.isfinite(start_time) or start_time < 0:
        raise ValueError(f"start_time must be a finite number >= 0, got {start_time!r}")


def generate(
    rows: int = FULL_ROWS,
    seed: int = 0,
    *,
    fraud_rate: float = FULL_FRAUD_RATE,
    scenario: str = "none",
    start_time: float = 0.0,
) -> pd.DataFrame:
    """Generate transactions with the ``creditcard.csv`` columns, sorted by ``Time``.

    Args:
        rows: number of transactions (284,807 in the original).
        seed: the same seed gives the same rows.
        fraud_rate: share of frauds; the count is ``round(rows * fraud_rate)``.
        scenario: ``none``, ``covariate``, ``concept`` or ``both`` (see the module docstring).
        start_time: the first possible ``Time``; production traffic continues after training.

    Returns:
        A DataFrame with exactly ``fraudops.schema.COLUMNS``: float64 features, int64 ``Class``.

    Raises:
        ValueError: an argument is out of range; the message names it.
    """
    _check(rows, fraud_rate, scenario, start_time)
    rng = np.random.default_rng(seed)
    n_fraud = min(rows, round(rows * fraud_rate))
    n_legit = rows - n_fraud
    index = {c: j for j, c in enumerate(_LATENT)}

    z_legit = _latent("legit", n_legit, rng)
    if scenario in ("covariate", "both"):
        for col in COVARIATE_SHIFTED:
            z_legit[:, index[col]] += COVARIATE_SHIFT
    legit = _features("legit", z_legit, rng)
    if scenario in ("covariate", "both"):
        legit[:, -1] = np.round(legit[:, -1] * COVARIATE_AMOUNT_FACTOR, 2)

    fraud = _features("fraud", _latent("fraud", n_fraud, rng), rng)
    if scenario in ("concept", "both") and n_fraud:
        # The new pattern: legitimate-looking rows with their own signature and mid-sized amounts.
        new = rng.random(n_fraud) < CONCEPT_SHARE
        z_new = _latent("legit", int(new.sum()), rng)
        for col, shift in CONCEPT_SIGNATURE.items():
            z_new[:, index[col]] += shift
        looks = _features("legit", z_new, rng)
        looks[:, -1] = np.round(rng.lognormal(np.log(350.0), 0.4, len(looks)), 2)
        fraud[new] = looks

    times = np.concatenate(
        [_times("legit", n_legit, rng, start_time), _times("fraud", n_fraud, rng, start_time)]
    )
    # Assemble and sort in numpy, then build the frame once: pandas' insert/take/copy on
    # 284,807 x 31 would cost more than all the sampling above.
    values = np.empty((rows, len(COLUMNS) - 1))
    values[:, 0] = times
    values[:n_legit, 1:] = legit
    values[n_legit:, 1:] = fraud
    order = np.argsort(times, kind="stable")
    labels = np.concatenate([np.zeros(n_legit, np.int64), np.ones(n_fraud, np.int64)])
    df = pd.DataFrame(values[order], columns=[TIME, *_LATENT[:-1], AMOUNT])
    df[TARGET] = labels[order]
    return df
